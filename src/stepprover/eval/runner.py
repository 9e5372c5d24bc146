"""Running n samples per problem: pre-flight, bounded concurrency, durable progress.

Generation concurrency is bounded by ``concurrency`` trajectories in flight;
Lean concurrency by the pool's size (its queue absorbs the rest). Every finished
sample is stored at once, so the same command resumes an interrupted run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stepprover.agent.trajectory import Trajectory
from stepprover.data.problems import Problem
from stepprover.eval.store import RunStore
from stepprover.lean.outcome import CommandOutcome
from stepprover.lean.protocol import CommandReply
from stepprover.lean.source import split_imports, with_sorry
from stepprover.lean.verify import SketchRepl
from stepprover.provers.registry import Prover

Progress = Callable[[str, bool], None]
"""Called after each stored sample with (problem, solved)."""


@dataclass(frozen=True)
class EvalPlan:
    problems: list[Problem]
    samples: int
    concurrency: int = 64
    preflight_timeout: float = 300.0


async def preflight(repl: SketchRepl, store: RunStore, problems: Sequence[Problem],
                    timeout: float) -> dict[str, tuple[bool, str]]:
    """Elaborate each statement once with ``sorry`` under its header (cached in the store)."""
    known = store.preflight()

    async def check(problem: Problem) -> None:
        if problem.name in known:
            return
        source = split_imports(problem.header + with_sorry(problem.formal_statement))
        try:
            outcome = await repl.run_command(source.imports, source.body, timeout)
        except Exception as exc:  # noqa: BLE001 - e.g. PoolBusy, RemoteError: the statement is unusable
            store.record_preflight(problem.name, False, f"{type(exc).__name__}: {exc}")
        else:
            store.record_preflight(problem.name, *_elaborates(outcome))

    await asyncio.gather(*(check(p) for p in problems))
    return store.preflight()


async def run_samples(
    agent: Prover, store: RunStore, plan: EvalPlan, runnable: set[str],
    progress: Progress | None = None, on_stored: Callable[[Trajectory], None] | None = None,
) -> None:
    """Run every (problem, sample) not yet in the store; store each as it finishes
    (then hand it to ``on_stored``, e.g. the gold check)."""
    done = store.done()
    todo = [(p, i) for p in plan.problems if p.name in runnable
            for i in range(plan.samples) if (p.name, i) not in done]
    slots = asyncio.Semaphore(plan.concurrency)

    async def one(problem: Problem, index: int) -> None:
        async with slots:
            trajectory = await agent.run(problem, index)
        store.add(trajectory)
        if on_stored is not None:
            on_stored(trajectory)
        if progress is not None:
            progress(problem.name, trajectory.solved)

    await asyncio.gather(*(one(p, i) for p, i in todo))


async def evaluate(prover: Prover, repl: SketchRepl, store: RunStore, plan: EvalPlan,
                   progress: Progress | None = None,
                   on_stored: Callable[[Trajectory], None] | None = None) -> None:
    """Pre-flight every statement, then run every missing sample of those that elaborate."""
    checks = await preflight(repl, store, plan.problems, plan.preflight_timeout)
    runnable = {name for name, (ok, _) in checks.items() if ok}
    await run_samples(prover, store, plan, runnable, progress, on_stored)


def _elaborates(outcome: CommandOutcome) -> tuple[bool, str]:
    """(the statement elaborated, why not)."""
    if not outcome.ok:
        return False, f"{outcome.status}: {outcome.detail}"
    reply = outcome.parsed
    errors = [m.data for m in getattr(reply, "messages", []) if m.severity == "error"]
    ok = isinstance(reply, CommandReply) and not errors
    return ok, "; ".join(errors) if errors else ("" if ok else str(reply.raw))
