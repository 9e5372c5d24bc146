"""Running n samples per problem: pre-flight, bounded concurrency, durable progress.

Generation concurrency is bounded by ``concurrency`` trajectories in flight;
Lean concurrency by the pool's size (its queue absorbs the rest). Every finished
sample is stored at once, so the same command resumes an interrupted run. An
outage (errors.Outage: the model server or Lean unavailable after retries) is no
result: the sample is stored as retryable and redone by the next run, and too many
in a row stop the run (RunStopped).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, cast

from stepprover.agent.trajectory import Trajectory
from stepprover.data.problems import Problem
from stepprover.errors import LeanUnavailable, Outage, RunStopped, outage_of
from stepprover.eval.corrections import CorrectingProver, run_corrections
from stepprover.eval.store import RunStore
from stepprover.lean.lean_texts import UNKNOWN_ENVIRONMENT
from stepprover.lean.outcome import CommandOutcome, CommandStatus
from stepprover.lean.protocol import CommandReply, ErrorReply
from stepprover.lean.source import split_imports, with_sorry
from stepprover.lean.verify import SketchRepl
from stepprover.provers.registry import Prover
from stepprover.provers.styles import CorrectionTree

Progress = Callable[[str, Trajectory], None]
"""Called after each stored sample with (problem, trajectory)."""


@dataclass(frozen=True)
class EvalPlan:
    problems: list[Problem]
    samples: int
    concurrency: int = 64
    preflight_timeout: float = 300.0
    corrections: CorrectionTree | None = None
    """Corrections as new samples after round 0 (the prover must offer ``correct``)."""
    max_consecutive_outages: int = 8
    """Stop the run after this many outages in a row since the last result (0: never)."""


class OutageBreaker:
    """Stops a run after ``limit`` consecutive outages since the last sample (or
    pre-flight check) that got a result. ``limit`` 0 never stops."""

    def __init__(self, limit: int = 8) -> None:
        self.limit = limit
        self.consecutive = 0
        self.stopped: RunStopped | None = None
        """Set once the limit is reached: start no further work."""
        self.total = 0
        self.last: Outage | None = None
        """The latest outage, so that a run left incomplete can say why."""

    def result(self) -> None:
        self.consecutive = 0

    def outage(self, outage: Outage) -> None:
        """Count one; raise RunStopped at the limit."""
        self.consecutive += 1
        self.total += 1
        self.last = outage
        if self.limit and self.consecutive >= self.limit:
            self.stopped = self.stopped or RunStopped(outage, self.limit)
            raise self.stopped


async def preflight(
    repl: SketchRepl,
    store: RunStore,
    problems: Sequence[Problem],
    timeout: float,  # noqa: ASYNC109 - see SketchRepl
    breaker: OutageBreaker | None = None,
) -> dict[str, tuple[bool, str]]:
    """Elaborate each statement once with ``sorry`` under its header.

    A failure is stored (and the statement counts as unsolved) only when Lean elaborated
    the statement and rejected it. Imports Lean cannot load (a module the environment
    lacks, a Mathlib that does not build) are the environment's fault, not the
    statement's: an outage, like any failure of the machinery, which stores nothing (the
    next run checks again; a refusal stored by an older run is checked again too). A
    timeout or crash stores nothing either. Returns the stored checks.
    """
    breaker = breaker or OutageBreaker(0)
    known = {
        name
        for name, (ok, reason) in store.preflight().items()
        if ok or not reason.startswith(_IMPORTS_REFUSED)
    }

    async def check(problem: Problem) -> None:
        if problem.name in known or breaker.stopped:
            return
        source = split_imports(problem.header + with_sorry(problem.formal_statement))
        try:
            outcome = await repl.run_command(source.imports, source.body, timeout)
        except Exception as exc:
            store.forget_preflight(problem.name)
            breaker.outage(
                outage_of(exc) or Outage("Lean (pre-flight)", f"{type(exc).__name__}: {exc}")
            )
            return
        if outcome.status in (CommandStatus.INFRASTRUCTURE, CommandStatus.REFUSED):
            store.forget_preflight(problem.name)
            why = "Lean cannot load the imports " if outcome.status is CommandStatus.REFUSED else ""
            breaker.outage(LeanUnavailable("Lean (pre-flight)", f"{why}{outcome.error}"))
            return
        judged = _judgement(outcome)
        if judged is None:
            return
        breaker.result()
        store.record_preflight(problem.name, *judged)

    await _all_or_none([check(p) for p in problems])
    return store.preflight()


_IMPORTS_REFUSED = "the imports were refused"
"""How runs stored before refused imports were outages recorded them (checked again)."""


async def run_samples(
    agent: Prover,
    store: RunStore,
    plan: EvalPlan,
    runnable: set[str],
    progress: Progress | None = None,
    on_stored: Callable[[Trajectory], None] | None = None,
    breaker: OutageBreaker | None = None,
) -> None:
    """Run every (problem, sample) not yet finished; store each as it ends (a sample an
    outage cut short is stored as retryable), then hand it to ``on_stored`` (e.g. the
    gold check). Raises RunStopped from ``breaker``."""
    breaker = breaker or OutageBreaker(0)
    done = store.done()
    todo = [
        (p, i)
        for p in plan.problems
        if p.name in runnable
        for i in range(plan.samples)
        if (p.name, i) not in done
    ]
    slots = asyncio.Semaphore(plan.concurrency)

    async def one(problem: Problem, index: int) -> None:
        async with slots:
            if breaker.stopped:
                return
            trajectory = await agent.run(problem, index)
        store.add(trajectory)
        _after_stored(problem, trajectory, progress, on_stored, breaker)

    await _all_or_none([one(p, i) for p, i in todo])


def _after_stored(
    problem: Problem,
    trajectory: Trajectory,
    progress: Progress | None,
    on_stored: Callable[[Trajectory], None] | None,
    breaker: OutageBreaker,
) -> None:
    if on_stored is not None:
        on_stored(trajectory)
    if progress is not None:
        progress(problem.name, trajectory)
    if trajectory.retryable:
        breaker.outage(_outage_in(trajectory))
    else:
        breaker.result()


async def evaluate(
    prover: Prover,
    repl: SketchRepl,
    store: RunStore,
    plan: EvalPlan,
    progress: Progress | None = None,
    on_stored: Callable[[Trajectory], None] | None = None,
    breaker: OutageBreaker | None = None,
) -> None:
    """Pre-flight every statement, then run every missing sample of those that elaborate
    (and, for a correction tree, every missing correction, round by round)."""
    breaker = breaker or OutageBreaker(plan.max_consecutive_outages)
    checks = await preflight(repl, store, plan.problems, plan.preflight_timeout, breaker)
    runnable = {name for name, (ok, _) in checks.items() if ok}
    await run_samples(prover, store, plan, runnable, progress, on_stored, breaker)
    if plan.corrections is not None:
        if not hasattr(prover, "correct"):
            raise TypeError(f"{type(prover).__name__} cannot run corrections")

        def after_stored(problem: Problem, trajectory: Trajectory) -> None:
            _after_stored(problem, trajectory, progress, on_stored, breaker)

        await run_corrections(
            cast(CorrectingProver, prover),
            store,
            [p for p in plan.problems if p.name in runnable],
            plan.samples,
            plan.corrections,
            plan.concurrency,
            after_stored,
            lambda: breaker.stopped is not None,
        )


async def _all_or_none(calls: list[Coroutine[Any, Any, None]]) -> None:
    """Run all; on the first exception cancel the rest and wait for them, then raise it."""
    tasks = [asyncio.ensure_future(c) for c in calls]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _outage_in(trajectory: Trajectory) -> Outage:
    endpoint, _, cause = (trajectory.error or "").partition(": ")
    return Outage(endpoint, cause)


def _judgement(outcome: CommandOutcome) -> tuple[bool, str] | None:
    """(the statement elaborated, why not) when Lean judged it; None when it did not
    (a timeout, crash or infrastructure failure is Lean's machinery, not a judgement)."""
    if not outcome.ok:
        return None
    reply = outcome.parsed
    if isinstance(reply, ErrorReply):
        # a command that throws is answered {"message": <exception>} (REPL/Main.lean
        # runCommand; "Lean error:" prefixes only tactic replies): Lean's judgement, except
        # an environment the pool named and the REPL lacks
        return None if reply.message == UNKNOWN_ENVIRONMENT else (False, reply.message)
    if isinstance(reply, CommandReply):
        errors = [m.data for m in reply.messages if m.severity == "error"]
        return not errors, "; ".join(errors)
    return None
