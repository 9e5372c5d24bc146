"""The Lean backend factory: each backend's verifier re-checks a final timeout that waited
behind a saturated pool (the service and Ray variants are in tests/server)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stepprover.errors import LeanBackendError
from stepprover.lean.backend import LeanBackend
from stepprover.lean.pool import ReplPool
from tests.conftest import standin_pool_config
from tests.progress import until

TYPE = {"severity": "info", "pos": {"line": -3, "column": 0}, "endPos": None, "data": "@t : True"}
AXIOMS = {
    "severity": "info",
    "pos": {"line": -2, "column": 0},
    "endPos": None,
    "data": "'t' does not depend on any axioms",
}
SCRIPT = [["-- final", {"messages": [TYPE, AXIOMS]}], ["*", {}]]


async def test_local_backend_rechecks_a_final_timeout_that_waited_behind_a_saturated_pool(
    script_file: Callable[[Any], str], tmp_path: Path
) -> None:
    flag = tmp_path / "hung"
    proof = f"theorem t : True := by\n  trivial -- final -- standin:hang-once={flag}"
    backend = LeanBackend(standin_pool_config("--script", script_file(SCRIPT), workers=1))
    async with backend.open() as (repl, verifier):
        blocker = asyncio.create_task(repl.run_command("", "-- standin:sleep=1", 5))
        assert isinstance(repl, ReplPool)
        pool = repl
        await until(lambda: pool.snapshot().busy >= 1, "the only worker to be busy: saturated")
        verdict = await verifier.check(proof, timeout=0.5)
        await blocker
    assert flag.exists() and verdict.proved and verdict.attempts == 2, verdict


async def test_a_backend_needs_somewhere_to_run_lean() -> None:
    with pytest.raises(LeanBackendError, match="pool_config or a url"):
        async with LeanBackend(None).open():
            pass


async def test_a_repl_that_will_not_start_is_an_outage_not_a_crash_or_a_verdict(
    tokenizer: Any,
) -> None:
    from stepprover.agent.loop import LoopConfig, TirAgent
    from stepprover.agent.trajectory import Finish
    from stepprover.data.problems import Problem
    from stepprover.errors import LeanUnavailable
    from stepprover.lean.outcome import CommandStatus
    from stepprover.models.scripted import ScriptedGenerator

    config = standin_pool_config(workers=1)
    missing = config.process.__class__(command=["/nonexistent/repl"])
    backend = LeanBackend(config.__class__(process=missing, workers=1, expected_worker_rss_mb=50))
    problem = Problem(
        name="t", header="import Mathlib\n\n", formal_statement="theorem t : True := by\n"
    )
    async with backend.open() as (repl, verifier):
        outcome = await repl.run_command("import Mathlib", "def x := 1", 5)
        with pytest.raises(LeanUnavailable, match="cannot start REPL"):
            await verifier.check("theorem t : True := trivial")
        agent = TirAgent(
            ScriptedGenerator(tokenizer, ["<sketch>theorem t : True := trivial</sketch>"]),
            repl,
            verifier,
            LoopConfig(),
        )
        trajectory = await agent.run(problem)
    assert outcome.status is CommandStatus.INFRASTRUCTURE and "cannot start REPL" in outcome.error
    assert trajectory.finish is Finish.OUTAGE and trajectory.retryable and not trajectory.repl_calls
    assert "cannot start REPL" in (trajectory.error or "")
