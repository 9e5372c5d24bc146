"""Corrections as new samples: Goedel-Prover-V2's self-correction tree, run after round 0.

Goedel-LM/Goedel-Prover-V2 @ 2e9036e (scripts/pipeline.sh, src/utils.py
``load_data_for_correction``): after every sample of a round is compiled, a problem that
no sample of that round solved gets ``children`` new samples for each failed attempt that
Lean answered (errors, or sorry only); each continues that attempt's conversation with
the error feedback. This runs ``rounds`` times. The tree lives in one run's store: its
sample indices are fixed by its shape (``provers.styles.CorrectionTree``), so an
interrupted run resumes.

Counting: a root sample (round 0) counts as solved when it or any of its corrections
proved the theorem (``fold_corrections``); n is the number of root samples.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

from stepprover.agent.trajectory import Trajectory
from stepprover.data.problems import Problem
from stepprover.eval.metrics import SampleResult
from stepprover.eval.store import RunStore
from stepprover.provers.styles import CorrectionTree


class CorrectingProver(Protocol):
    async def run(self, problem: Problem, sample_index: int = 0) -> Trajectory: ...

    async def correct(
        self, problem: Problem, parent: Trajectory, sample_index: int
    ) -> Trajectory: ...


def correction_parents(round_samples: Sequence[Trajectory]) -> list[Trajectory]:
    """The samples of one problem's round that get corrections: none if any sample of the
    round proved the theorem, else every one that earned a correction turn
    (``meta["feedback"]``, set by the style: Lean answered it and it failed)."""
    if any(t.solved for t in round_samples):
        return []
    return [
        t
        for t in sorted(round_samples, key=lambda t: t.sample_index)
        if t.meta.get("feedback") is not None
    ]


def fold_corrections(
    results: Sequence[SampleResult], samples: int, tree: CorrectionTree | None
) -> list[SampleResult]:
    """One result per root sample, solved if the root or any correction below it was."""
    if tree is None:
        return list(results)
    solved: dict[tuple[str, int], bool] = {}
    for r in results:
        key = (r.problem, tree.root_index(samples, r.sample_index))
        solved[key] = solved.get(key, False) or r.solved
    return [
        r._replace(solved=solved[(r.problem, r.sample_index)])
        for r in results
        if r.sample_index < samples
    ]


async def run_corrections(
    prover: CorrectingProver,
    store: RunStore,
    problems: Sequence[Problem],
    samples: int,
    tree: CorrectionTree,
    concurrency: int,
    after_stored: Callable[[Problem, Trajectory], None] | None = None,
    stopped: Callable[[], bool] = lambda: False,
) -> None:
    """Run every missing correction, round after round (each round needs the whole previous
    round of its problem: a problem with a sample an outage cut short waits for the resume
    that redoes it); store each as it finishes, then call ``after_stored``."""
    slots = asyncio.Semaphore(concurrency)

    async def one(problem: Problem, parent: Trajectory, index: int) -> None:
        async with slots:
            if stopped():
                return
            trajectory = await prover.correct(problem, parent, index)
        store.add(trajectory)
        if after_stored is not None:
            after_stored(problem, trajectory)

    for round_index in range(1, tree.rounds + 1):
        low, high = (
            tree.round_offset(samples, round_index - 1),
            tree.round_offset(samples, round_index),
        )
        todo = []
        for problem in problems:
            stored = {t.sample_index: t for t in store.trajectories(problem.name)}
            previous = [t for i, t in stored.items() if low <= i < high]
            if (round_index == 1 and sum(i < samples for i in stored) < samples) or any(
                t.retryable for t in previous
            ):
                continue  # the round before is not finished: its corrections are not known yet
            for parent in correction_parents(previous):
                for j in range(tree.children):
                    index = tree.child_index(samples, parent.sample_index, j)
                    if index not in stored or stored[index].retryable:
                        todo.append((problem, parent, index))
        await asyncio.gather(*(one(p, parent, i) for p, parent, i in todo))
