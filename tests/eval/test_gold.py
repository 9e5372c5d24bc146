"""Gold re-checks of an eval's accepted samples: once per distinct text, kept across
invocations, and reported next to the fast checks (stand-in comparator, not comparator)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from stepprover.agent.trajectory import Trajectory
from stepprover.data.problems import Problem
from stepprover.eval.gold import GoldLedger, GoldRechecker, gold_counts, gold_lines
from stepprover.eval.metrics import SampleResult
from stepprover.lean.gold import GoldChecker
from stepprover.lean.verify import Outcome, Verdict
from tests.lean.test_gold import PROOF, make_tools

HEADER, BODY = PROOF.split("/--", 1)
PROBLEM = Problem(
    name="mathd_algebra_10",
    header=HEADER,
    formal_statement=BODY.split("\n", 1)[1].split("\n  norm_num")[0] + "\n",
)
HONEST = "/--" + BODY
CHEAT = HONEST + "\n-- standin: kernel-reject\n"


def accepted(index: int, proof: str, solved: bool = True) -> Trajectory:
    verdict = Verdict(outcome=Outcome.PROVED if solved else Outcome.LEAN_ERROR)
    return Trajectory(
        problem=PROBLEM.name,
        prompt_text="",
        prompt_ids=[],
        sample_index=index,
        final_proof=proof,
        verdict=verdict,
    )


async def test_each_distinct_text_once_and_refusals_reported(tmp_path: Path) -> None:
    tools = make_tools(tmp_path)
    samples = [
        accepted(0, HONEST),
        accepted(1, CHEAT),
        accepted(2, HONEST),
        accepted(3, "junk", solved=False),
    ]
    with GoldLedger(tmp_path / "run") as ledger:
        rechecker = GoldRechecker(GoldChecker(tools), ledger, [PROBLEM])
        for t in samples:
            rechecker.submit(t)
        await rechecker.drain()
        gold = ledger.samples()
    assert (tmp_path / "builds.log").read_text().split() == ["Challenge", "Solution", "Solution"]
    assert {k: v.outcome if v else None for k, v in gold.items()} == {
        (PROBLEM.name, 0): Outcome.PROVED,
        (PROBLEM.name, 1): Outcome.REJECTED,
        (PROBLEM.name, 2): Outcome.PROVED,
    }
    results = [SampleResult(PROBLEM.name, t.sample_index, t.solved, 0, None) for t in samples]
    assert gold_counts(results, [PROBLEM.name], gold) == {PROBLEM.name: (4, 2)}
    text = "\n".join(gold_lines(results, [PROBLEM.name], gold))
    assert "| fast checks (REPL + integrity checks) | 75.0%" in text
    assert "comparator: proved 2, rejected 1" in text
    assert f"| {PROBLEM.name} | 1 | rejected | comparator: the kernel rejects" in text

    # A later invocation (resume) finds the texts checked and runs nothing.
    with GoldLedger(tmp_path / "run") as ledger:
        rechecker = GoldRechecker(GoldChecker(tools), ledger, [PROBLEM])
        rechecker.sweep(samples)
        assert rechecker.pending == 0
        await rechecker.drain()
    assert len((tmp_path / "builds.log").read_text().split()) == 3


async def test_an_unchecked_sample_does_not_count_under_gold(tmp_path: Path) -> None:
    with GoldLedger(tmp_path) as ledger:
        ledger.link(PROBLEM.name, 0, "never-checked")
        gold = ledger.samples()
    results = [SampleResult(PROBLEM.name, 0, True, 0, None)]
    assert gold == {(PROBLEM.name, 0): None}
    assert gold_counts(results, [PROBLEM.name], gold) == {PROBLEM.name: (1, 0)}
    assert "not checked 1" in "\n".join(gold_lines(results, [PROBLEM.name], gold))


async def test_closing_with_checks_just_started_cancels_them_and_their_processes(
    tmp_path: Path,
) -> None:
    """What an eval that fails right after storing samples does: aclose() at once."""
    import psutil

    tools = make_tools(tmp_path)
    with GoldLedger(tmp_path / "run") as ledger:
        rechecker = GoldRechecker(GoldChecker(tools), ledger, [PROBLEM])
        rechecker.submit(accepted(0, HONEST))
        rechecker.submit(accepted(1, CHEAT))
        await asyncio.sleep(0)  # the checks take their first step: spawning the build
        await asyncio.wait_for(rechecker.aclose(), timeout=60)
    assert rechecker.pending == 0
    left = [
        p
        for p in psutil.process_iter(["cmdline"])
        if any(str(tmp_path) in part for part in p.info["cmdline"] or [])
    ]
    assert left == []


TEARDOWN = """
import asyncio, sys
from pathlib import Path
from stepprover.eval.gold import GoldLedger, GoldRechecker
from stepprover.lean.gold import GoldChecker
from tests.eval.test_gold import CHEAT, HONEST, PROBLEM, accepted, make_tools

async def main(tmp: Path) -> None:
    with GoldLedger(tmp / "run") as ledger:
        rechecker = GoldRechecker(GoldChecker(make_tools(tmp)), ledger, [PROBLEM])
        rechecker.submit(accepted(0, HONEST))
        rechecker.submit(accepted(1, CHEAT))
    # The eval fails while the checks spawn their first process: asyncio.run then
    # cancels every task, asyncio's own spawn machinery included.
    raise RuntimeError("the model server went away")

try:
    asyncio.run(main(Path(sys.argv[1])))
except RuntimeError:
    print("stopped")
"""


def test_an_eval_failing_while_checks_spawn_stops_promptly(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    import psutil

    repo = Path(__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo / "src"), str(repo)])}
    result = subprocess.run(
        [sys.executable, "-c", TEARDOWN, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stdout.strip() == "stopped", result.stderr[-2000:]
    left = [
        p
        for p in psutil.process_iter(["cmdline"])
        if any(str(tmp_path) in part for part in p.info["cmdline"] or [])
    ]
    assert left == []
