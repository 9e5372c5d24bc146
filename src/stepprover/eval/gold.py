"""Re-verifying the proofs an eval accepted with comparator (the gold check).

Every sample the fast checks solved is re-verified once per distinct
(statement, proof) text: samples with the same text share one comparator run.
Results live next to the run in ``gold.sqlite`` (its own file, so the run's
store is untouched), so a resumed eval never checks the same text twice. Checks
start in the background as samples finish; ``sweep`` picks up what an earlier,
interrupted invocation stored but did not check.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from stepprover.agent.trajectory import Trajectory
from stepprover.data.problems import Problem
from stepprover.eval.metrics import SampleResult, pass1, solve_counts
from stepprover.lean.gold import GoldChecker, GoldVerdict
from stepprover.lean.verify import Outcome

LEDGER_FILE = "gold.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS checks (
    key TEXT PRIMARY KEY, outcome TEXT NOT NULL, reason TEXT NOT NULL,
    elapsed REAL NOT NULL, peak_rss_mb REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS samples (
    problem TEXT NOT NULL, sample_index INTEGER NOT NULL, key TEXT NOT NULL,
    PRIMARY KEY (problem, sample_index)
);
"""


def gold_key(statement: str, code: str) -> str:
    """Identity of one gold check: the exact statement and proof texts."""
    return hashlib.sha256(json.dumps([statement, code]).encode()).hexdigest()


@dataclass(frozen=True)
class GoldRecord:
    outcome: Outcome
    reason: str
    elapsed: float
    peak_rss_mb: float


class GoldLedger:
    """``gold.sqlite`` in a run folder: one row per checked text, one per accepted sample."""

    def __init__(self, folder: Path | str) -> None:
        path = Path(folder) / LEDGER_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    @staticmethod
    def exists(folder: Path | str) -> bool:
        return (Path(folder) / LEDGER_FILE).exists()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def link(self, problem: str, sample_index: int, key: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO samples VALUES (?,?,?)", (problem, sample_index, key)
        )

    def record(self, key: str, verdict: GoldVerdict) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO checks VALUES (?,?,?,?,?)",
            (key, verdict.outcome.value, verdict.reason, verdict.elapsed, verdict.peak_rss_mb),
        )

    def checked(self, key: str) -> bool:
        return self._db.execute("SELECT 1 FROM checks WHERE key = ?", (key,)).fetchone() is not None

    def samples(self) -> dict[tuple[str, int], GoldRecord | None]:
        """Each accepted sample's gold result (None: not checked yet)."""
        rows = self._db.execute(
            "SELECT s.problem, s.sample_index, c.outcome, c.reason, c.elapsed, c.peak_rss_mb "
            "FROM samples s LEFT JOIN checks c ON c.key = s.key"
        )
        return {
            (p, i): None if outcome is None else GoldRecord(Outcome(outcome), reason, elapsed, rss)
            for p, i, outcome, reason, elapsed, rss in rows
        }


class GoldRechecker:
    """Starts a gold check for each accepted sample as it is stored (``submit``);
    ``drain`` waits for all of them. The same text is checked once."""

    def __init__(
        self, checker: GoldChecker, ledger: GoldLedger, problems: Iterable[Problem]
    ) -> None:
        self.checker = checker
        self.ledger = ledger
        self.problems = {p.name: p for p in problems}
        self._running: dict[str, asyncio.Task[None]] = {}

    def submit(self, trajectory: Trajectory) -> None:
        """Queue ``trajectory`` if the fast checks accepted it (call from the event loop)."""
        problem = self.problems.get(trajectory.problem)
        if problem is None or not trajectory.solved or trajectory.final_proof is None:
            return
        statement = problem.statement_text
        code = problem.with_proof(trajectory.final_proof)
        key = gold_key(statement, code)
        self.ledger.link(trajectory.problem, trajectory.sample_index, key)
        if key in self._running or self.ledger.checked(key):
            return
        self._running[key] = asyncio.create_task(self._check(key, statement, code))

    async def _check(self, key: str, statement: str, code: str) -> None:
        self.ledger.record(key, await self.checker.check(statement, code))

    def sweep(self, trajectories: Iterable[Trajectory]) -> None:
        """Submit every accepted sample among ``trajectories`` (those stored by an
        earlier, interrupted invocation included)."""
        for trajectory in trajectories:
            self.submit(trajectory)

    @property
    def pending(self) -> int:
        return sum(not t.done() for t in self._running.values())

    async def drain(self) -> None:
        """Wait for every submitted check; re-raise the first failure of the machinery."""
        while pending := [t for t in self._running.values() if not t.done()]:
            await asyncio.gather(*pending)
        for task in self._running.values():
            task.result()

    async def aclose(self) -> None:
        """Cancel what is still running (its comparator tree is killed)."""
        for task in self._running.values():
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)


def gold_counts(
    results: Iterable[SampleResult],
    problems: list[str],
    gold: Mapping[tuple[str, int], GoldRecord | None],
) -> dict[str, tuple[int, int]]:
    """(samples, solved) per problem where solved also needs comparator's ``proved``."""

    def proved(r: SampleResult) -> bool:
        record = gold.get((r.problem, r.sample_index))
        return r.solved and record is not None and record.outcome is Outcome.PROVED

    return solve_counts(
        (
            SampleResult(r.problem, r.sample_index, proved(r), r.repl_calls, r.final_context_tokens)
            for r in results
        ),
        problems,
    )


def gold_lines(
    results: list[SampleResult],
    problems: list[str],
    gold: Mapping[tuple[str, int], GoldRecord | None],
) -> list[str]:
    """The report's gold section (Markdown): pass@1 under both checks, the gold outcomes,
    and every proof the fast checks accepted and comparator did not."""
    fast = pass1(solve_counts(results, problems))
    under_gold = pass1(gold_counts(results, problems, gold))
    accepted = [r for r in results if r.solved]
    outcomes: dict[str, int] = {}
    for r in accepted:
        record = gold.get((r.problem, r.sample_index))
        name = record.outcome.value if record else "not checked"
        outcomes[name] = outcomes.get(name, 0) + 1
    lines = [
        "## Gold-standard verification (comparator)", "",
        "| check | pass@1 |", "| --- | --- |",
        f"| fast checks (REPL + integrity checks) | {fast} |",
        "| gold (comparator: sandboxed build, statement match, axioms, kernel replay)"
        f" | {under_gold} |",
        "",
        f"{len(accepted)} accepted samples; comparator: "
        + ", ".join(f"{name} {n}" for name, n in sorted(outcomes.items())) + ". "
        "Under gold a sample counts only if comparator proved it: a comparator timeout, crash "
        "or a check not run counts as unsolved there.",
        "",
    ]  # fmt: skip
    refused = sorted(
        (r.problem, r.sample_index, record)
        for r in accepted
        if (record := gold.get((r.problem, r.sample_index))) is not None
        and record.outcome is not Outcome.PROVED
    )
    if refused:
        lines += [
            "### Accepted by the fast checks, not by comparator",
            "",
            "| problem | sample | comparator | reason |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {p} | {i} | {rec.outcome.value} | {_cell(rec.reason)} |" for p, i, rec in refused
        ]
        lines.append("")
    return lines


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")[:300]
