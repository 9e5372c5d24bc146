"""Running n samples per problem: pre-flight, bounded concurrency, durable progress.

Generation concurrency is bounded by ``concurrency`` trajectories in flight;
Lean concurrency by the pool's size (its queue absorbs the rest). Every finished
sample is stored at once, so the same command resumes an interrupted run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from stepprover.agent.loop import SketchRepl
from stepprover.agent.trajectory import Trajectory
from stepprover.data.problems import Problem
from stepprover.baselines.styles import CorrectionTree
from stepprover.eval.corrections import CorrectingProver, run_corrections
from stepprover.eval.store import RunStore
from stepprover.lean.pool import ReplPool
from stepprover.lean.protocol import CommandReply, CommandRequest
from stepprover.lean.source import split_imports, with_sorry
from stepprover.lean.verify import Outcome, Verdict, Verifier


class Prover(Protocol):
    async def run(self, problem: Problem, sample_index: int = 0) -> Trajectory: ...


Progress = Callable[[str, bool], None]
"""Called after each stored sample with (problem, solved)."""


@dataclass(frozen=True)
class EvalPlan:
    problems: list[Problem]
    samples: int
    concurrency: int = 64
    preflight_timeout: float = 300.0
    corrections: CorrectionTree | None = None
    """Corrections as new samples after round 0 (the prover must offer ``correct``)."""


async def preflight(repl: SketchRepl, store: RunStore, problems: Sequence[Problem],
                    timeout: float) -> dict[str, tuple[bool, str]]:
    """Elaborate each statement once with ``sorry`` under its header (cached in the store)."""
    known = store.preflight()

    async def check(problem: Problem) -> None:
        if problem.name in known:
            return
        source = split_imports(problem.header + with_sorry(problem.formal_statement))
        try:
            reply = await repl.run(source.imports, CommandRequest(cmd=source.body), timeout)
        except Exception as exc:  # noqa: BLE001 - any failure means the statement is unusable
            ok, reason = False, f"{type(exc).__name__}: {exc}"
        else:
            errors = [m.data for m in getattr(reply, "messages", []) if m.severity == "error"]
            ok = isinstance(reply, CommandReply) and not errors
            reason = "; ".join(errors) if errors else ("" if ok else str(reply.raw))
        store.record_preflight(problem.name, ok, reason)

    await asyncio.gather(*(check(p) for p in problems))
    return store.preflight()


async def run_samples(
    agent: Prover, store: RunStore, plan: EvalPlan, runnable: set[str],
    progress: Progress | None = None,
) -> None:
    """Run every (problem, sample) not yet in the store; store each as it finishes."""
    done = store.done()
    todo = [(p, i) for p in plan.problems if p.name in runnable
            for i in range(plan.samples) if (p.name, i) not in done]
    slots = asyncio.Semaphore(plan.concurrency)

    async def one(problem: Problem, index: int) -> None:
        async with slots:
            trajectory = await agent.run(problem, index)
        store.add(trajectory)
        if progress is not None:
            progress(problem.name, trajectory.solved)

    await asyncio.gather(*(one(p, i) for p, i in todo))


async def evaluate(prover: Prover, repl: SketchRepl, store: RunStore, plan: EvalPlan,
                   progress: Progress | None = None) -> None:
    """Pre-flight every statement, then run every missing sample of those that elaborate
    (and, for a correction tree, every missing correction, round by round)."""
    checks = await preflight(repl, store, plan.problems, plan.preflight_timeout)
    runnable = {name for name, (ok, _) in checks.items() if ok}
    await run_samples(prover, store, plan, runnable, progress)
    if plan.corrections is not None:
        if not hasattr(prover, "correct"):
            raise TypeError(f"{type(prover).__name__} cannot run corrections")
        await run_corrections(cast(CorrectingProver, prover), store,
                              [p for p in plan.problems if p.name in runnable], plan.samples,
                              plan.corrections, plan.concurrency, progress)


class RecheckingVerifier:
    """A final check that timed out while the pool was saturated is run once more
    on an idle worker before it counts as a timeout."""

    def __init__(self, verifier: Verifier, pool: ReplPool, poll: float = 0.05) -> None:
        self.verifier = verifier
        self.pool = pool
        self.poll = poll

    async def check(self, code: str | bytes, *, statement: str | None = None,
                    timeout: float | None = None) -> Verdict:
        queued = await self._no_free_worker()
        verdict = await self.verifier.check(code, statement=statement, timeout=timeout)
        if verdict.outcome is not Outcome.TIMEOUT or not (queued or await self._others_waiting()):
            return verdict
        while await self._no_free_worker():
            await asyncio.sleep(self.poll)
        again = await self.verifier.check(code, statement=statement, timeout=timeout)
        return again.model_copy(update={"attempts": verdict.attempts + again.attempts})

    async def _no_free_worker(self) -> bool:
        """A check started now would wait: nothing idle, no room to start a worker."""
        health = await self.pool.health()
        no_room = health.workers + health.starting >= health.size
        return health.waiting > 0 or (health.idle == 0 and no_room)

    async def _others_waiting(self) -> bool:
        return (await self.pool.health()).waiting > 0
