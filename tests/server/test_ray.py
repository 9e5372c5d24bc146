"""RayVerifier on a local Ray cluster with 2 pool-actor processes (the REPL is the stand-in)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stepprover.lean.outcome import CommandStatus
from stepprover.lean.protocol import CommandReply
from tests.conftest import standin_pool_config
from tests.progress import until

ray = pytest.importorskip("ray")

AXIOMS = {
    "severity": "info",
    "pos": {"line": -2, "column": 0},
    "endPos": None,
    "data": "'t' does not depend on any axioms",
}
SCRIPT = [["kind:valid", {"messages": [AXIOMS]}], ["*", {}]]


@pytest.fixture(scope="module")
def local_cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.slow
async def test_checks_spread_over_two_actor_processes(
    local_cluster: None, script_file: Callable[[Any], str]
) -> None:
    from stepprover.lean.ray_pool import RayVerifier, node_worker_count

    lean = RayVerifier(
        standin_pool_config("--script", script_file(SCRIPT), workers=2), actors_per_node=2
    )
    try:
        assert len(lean.actors) == 2
        verdicts = await asyncio.gather(
            *(lean.check(f"theorem t : True := by\n  trivial -- kind:valid {i}") for i in range(20))
        )
        assert all(v.proved for v in verdicts), [v.reason for v in verdicts if not v.proved]
        ok = await lean.run_command("import Mathlib", "def x := 1", 10)
        assert ok.ok and isinstance(ok.parsed, CommandReply)
        timeout = await lean.run_command("import Mathlib", "-- standin:hang", 0.5)
        assert timeout.status is CommandStatus.TIMEOUT and timeout.elapsed >= 0.5
        health = await lean.health()
        assert len({h["pid"] for h in health}) == 2, "two separate actor processes"
        assert all(h["served"] > 0 for h in health), health
    finally:
        await lean.close()
    node = {"Resources": {"CPU": 16.0, "memory": 64 * 2**30}}
    assert (
        node_worker_count(node, 6500) == 9
        and node_worker_count({"Resources": {"CPU": 2.0}}, 6500) == 1
    )


@pytest.mark.slow
async def test_ray_backend_rechecks_a_final_timeout_that_waited_behind_a_saturated_pool(
    local_cluster: None, script_file: Callable[[Any], str], tmp_path: Any
) -> None:
    from stepprover.lean.backend import LeanBackend

    flag = tmp_path / "hung"
    proof = f"theorem t : True := by\n  trivial -- kind:valid -- standin:hang-once={flag}"
    backend = LeanBackend(
        standin_pool_config("--script", script_file(SCRIPT), workers=1), ray_address="auto"
    )
    async with backend.open() as (repl, verifier):
        blocker = asyncio.create_task(repl.run_command("", "-- standin:sleep=1", 5))

        async def saturated() -> bool:
            return bool((await repl.pool_health()).busy >= 1)  # type: ignore[attr-defined]

        await until(saturated, "the only worker to be busy: the pool is saturated")
        verdict = await verifier.check(proof, timeout=0.5)
        await blocker
    assert flag.exists() and verdict.proved and verdict.attempts == 2, verdict


@pytest.mark.slow
async def test_a_proof_of_another_statement_is_rejected_over_ray(
    local_cluster: None, script_file: Callable[[Any], str]
) -> None:
    from stepprover.lean.ray_pool import RayVerifier
    from stepprover.lean.verify import Outcome
    from tests.lean.test_verify import SCRIPT as VERIFY_SCRIPT
    from tests.lean.test_verify import STATEMENT, proof

    other = proof("norm_num -- case_other_type")  # Lean prints another type for t1
    lean = RayVerifier(standin_pool_config("--script", script_file(VERIFY_SCRIPT), workers=2))
    try:
        rejected = await lean.check(other, statement=STATEMENT)
        unchecked = await lean.check(other)
    finally:
        await lean.close()
    assert rejected.outcome is Outcome.REJECTED, rejected
    assert "does not prove the given statement" in rejected.reason
    assert unchecked.proved, "without the statement the same proof passes: the statement was sent"
