"""``stepprover lean selftest``: run the shipped honest proofs and exploits through the verifier.

Without Lean (``dry_run``), each case is only planned: which cases the verifier
refuses before Lean runs and which it leaves to Lean. A dry run misclassifies when
an honest proof is refused before Lean, or an exploit is stopped at another stage
than the suite expects. With Lean, every case is verified for real; a run
misclassifies when an honest proof is not proved or an exploit is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from stepprover.lean.selftest_cases import CASES, Case
from stepprover.lean.verify import Outcome, Plan, Verifier, VerifyConfig, plan


@dataclass(frozen=True)
class Result:
    case: Case
    stopped_before_lean: bool
    outcome: Outcome | None
    """The verdict's outcome (``None`` in a dry run for cases left to Lean)."""
    reason: str

    @property
    def proved(self) -> bool:
        return self.outcome is Outcome.PROVED

    @property
    def misclassified(self) -> bool:
        if self.case.honest:
            return self.stopped_before_lean or (self.outcome is not None and not self.proved)
        if self.proved:
            return True
        return self.outcome is None and self.stopped_before_lean != (self.case.stage == "prefilter")


def dry_run(cases: Iterable[Case] = CASES, config: VerifyConfig | None = None) -> list[Result]:
    """Plan each case: refused before Lean (with the reason) or left to Lean."""
    policy = (config or VerifyConfig()).policy
    results = []
    for case in cases:
        planned = plan(case.code, case.statement, policy)
        refused = not isinstance(planned, Plan)
        outcome = Outcome.REJECTED if refused else None
        results.append(Result(case, refused, outcome, planned if isinstance(planned, str) else ""))
    return results


async def run(
    verifier: Verifier, cases: Iterable[Case] = CASES, concurrency: int = 4
) -> list[Result]:
    """Verify each case for real (Lean behind ``verifier``)."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(case: Case) -> Result:
        async with semaphore:
            verdict = await verifier.check(case.code, statement=case.statement)
        # refused before Lean: a rejection that carries no reply from Lean
        before = verdict.outcome is Outcome.REJECTED and verdict.reply is None
        return Result(case, before, verdict.outcome, verdict.reason)

    return list(await asyncio.gather(*(one(c) for c in list(cases))))


def confusion_matrix(results: list[Result]) -> list[list[str]]:
    """Rows honest/exploit; columns proved, not proved (refused before Lean), not proved (by Lean),
    left to Lean (dry run)."""
    rows = []
    for label, honest in (("honest", True), ("exploit", False)):
        mine = [r for r in results if r.case.honest == honest]
        proved = sum(r.proved for r in mine)
        before = sum(r.stopped_before_lean for r in mine)
        by_lean = sum(
            r.outcome is not None and not r.proved and not r.stopped_before_lean for r in mine
        )
        left = sum(r.outcome is None for r in mine)
        rows.append([f"{label} ({len(mine)})", str(proved), str(before), str(by_lean), str(left)])
    return rows


__all__ = ["CASES", "HEADERS", "Case", "Result", "confusion_matrix", "dry_run", "plan", "run"]

HEADERS = ["case", "proved", "refused before Lean", "not proved by Lean", "left to Lean (dry run)"]
