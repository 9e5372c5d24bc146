"""Re-judging a stored run: every final proof verified again, the old run only read."""

from __future__ import annotations

import asyncio
from pathlib import Path

from stepprover.agent.trajectory import Finish, Trajectory
from stepprover.data.problems import Problem
from stepprover.eval.rejudge import proof_file, rejudge, rejudged_config
from stepprover.eval.store import RunConfig, RunStore
from stepprover.lean.verify import RULES_VERSION, Outcome, Verdict

CONFIG = RunConfig(
    model="m", prompt_style="stepfun-tir", samples=2, sampling={}, budgets={},
    lean="repl: old", dataset="bench.jsonl", dataset_sha256="0" * 64,
)  # fmt: skip
PROBLEM = Problem(name="p", formal_statement="theorem p : True := by\n")


class Recorder:
    """A verifier that refuses what it is told to, and records what it was asked."""

    def __init__(self, refuse: str) -> None:
        self.refuse = refuse
        self.asked: list[tuple[str, str | None]] = []

    async def check(
        self,
        code: str | bytes,
        *,
        statement: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the Verifier protocol)
    ) -> Verdict:
        assert isinstance(code, str)
        self.asked.append((code, statement))
        if self.refuse in code:
            return Verdict(outcome=Outcome.REJECTED, reason="refused now")
        return Verdict(outcome=Outcome.PROVED)


def sample(index: int, proof: str | None, finish: Finish = Finish.ANSWERED) -> Trajectory:
    verdict = Verdict(outcome=Outcome.PROVED) if proof else None
    return Trajectory(
        problem="p", prompt_text="", prompt_ids=[], final_proof=proof, verdict=verdict,
        sample_index=index, finish=finish,
    )  # fmt: skip


def test_rejudging_changes_verdicts_under_the_new_rules_and_names_each(tmp_path: Path) -> None:
    with RunStore.open(tmp_path / "old", CONFIG) as old:
        old.record_problems(["p"])
        old.add(sample(0, "theorem p : True := by\n  trivial\n"))
        old.add(sample(1, "theorem p : True := by\n  exact cheat\n"))
        old.add(sample(2, None))
        old.add(sample(3, None, Finish.OUTAGE))
    new_config = rejudged_config(CONFIG, tmp_path / "old", "repl: new")
    assert new_config.rules_version == RULES_VERSION and new_config.lean == "repl: new"
    verifier = Recorder(refuse="cheat")
    with (
        RunStore.reopen(tmp_path / "old") as old,
        RunStore.open(tmp_path / "new", new_config) as new,
    ):
        result = asyncio.run(rejudge(old, new, {"p": PROBLEM}, verifier))
        outcomes = {t.sample_index: t.verdict for t in new.trajectories()}
    assert result.checked == 2 and result.copied == 1 and result.outages == 1
    assert result.changed == ["p#1: proved -> rejected"]
    assert outcomes[0] is not None and outcomes[0].proved
    assert outcomes[1] is not None and outcomes[1].outcome is Outcome.REJECTED
    assert outcomes[2] is None and 3 not in outcomes
    # the proof body is verified under the problem's header, against its statement
    assert verifier.asked[0] == (
        PROBLEM.with_proof("theorem p : True := by\n  trivial\n"),
        PROBLEM.statement_text,
    )
    with RunStore.reopen(tmp_path / "old") as old:
        assert all(t.verdict is None or t.verdict.proved for t in old.trajectories())


def test_a_whole_proof_file_is_verified_as_stored() -> None:
    whole = "import Mathlib\ntheorem p : True := trivial\n"
    assert proof_file(sample(0, whole), PROBLEM) == whole
    body = "theorem p : True := trivial\n"
    assert proof_file(sample(0, body), PROBLEM) == PROBLEM.header + body
