"""Corrections as new samples: Goedel-Prover-V2's self-correction tree, run after round 0.

Goedel-LM/Goedel-Prover-V2 @ 2e9036e (scripts/pipeline.sh, src/utils.py
``load_data_for_correction``): after every sample of a round is compiled, a problem that
no sample of that round solved gets ``children`` new samples for each failed attempt that
Lean answered (errors, or sorry only); each continues that attempt's conversation with
the error feedback. This runs ``rounds`` times. The tree lives in one run's store: its
sample indices are fixed by its shape (``CorrectionTree``), so an interrupted run resumes.

Counting: a root sample (round 0) counts as solved when it or any of its corrections
proved the theorem (``fold_corrections``); n is the number of root samples.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from stepprover.agent.trajectory import Trajectory
from stepprover.data.problems import Problem
from stepprover.eval.metrics import SampleResult
from stepprover.eval.store import RunStore


@dataclass(frozen=True)
class CorrectionTree:
    """The tree's shape and its sample indices. Round 0 holds indices ``0 .. n-1``; round r
    holds ``n * children**r`` slots after the earlier rounds'; the j-th child of slot s of
    round r-1 is slot ``s * children + j`` of round r."""

    rounds: int
    children: int

    def round_offset(self, samples: int, round_index: int) -> int:
        return sum(samples * self.children**r for r in range(round_index))

    def round_of(self, samples: int, index: int) -> int:
        round_index = 0
        while index >= self.round_offset(samples, round_index + 1):
            round_index += 1
        return round_index

    def child_index(self, samples: int, parent: int, j: int) -> int:
        """Index of the ``j``-th correction of sample ``parent``."""
        r = self.round_of(samples, parent)
        slot = parent - self.round_offset(samples, r)
        return self.round_offset(samples, r + 1) + slot * self.children + j

    def parent_index(self, samples: int, index: int) -> int | None:
        r = self.round_of(samples, index)
        if r == 0:
            return None
        slot = index - self.round_offset(samples, r)
        return self.round_offset(samples, r - 1) + slot // self.children

    def root_index(self, samples: int, index: int) -> int:
        parent = self.parent_index(samples, index)
        return index if parent is None else self.root_index(samples, parent)

    def as_budget(self) -> dict[str, int]:
        """How a run's config records it (``budgets["correction_tree"]``)."""
        return {"rounds": self.rounds, "children": self.children}

    @classmethod
    def from_budgets(cls, budgets: dict[str, Any]) -> CorrectionTree | None:
        shape = budgets.get("correction_tree")
        return None if shape is None else cls(**shape)


class CorrectingProver(Protocol):
    async def run(self, problem: Problem, sample_index: int = 0) -> Trajectory: ...

    async def correct(self, problem: Problem, parent: Trajectory, sample_index: int) -> Trajectory: ...


def correction_parents(round_samples: Sequence[Trajectory]) -> list[Trajectory]:
    """The samples of one problem's round that get corrections: none if any sample of the
    round proved the theorem, else every one that earned a correction turn
    (``meta["feedback"]``, set by the style: Lean answered it and it failed)."""
    if any(t.solved for t in round_samples):
        return []
    return [t for t in sorted(round_samples, key=lambda t: t.sample_index) if t.meta.get("feedback") is not None]


def fold_corrections(results: Sequence[SampleResult], samples: int,
                     tree: CorrectionTree | None) -> list[SampleResult]:
    """One result per root sample, solved if the root or any correction below it was."""
    if tree is None:
        return list(results)
    solved: dict[tuple[str, int], bool] = {}
    for r in results:
        key = (r.problem, tree.root_index(samples, r.sample_index))
        solved[key] = solved.get(key, False) or r.solved
    return [replace(r, solved=solved[(r.problem, r.sample_index)])
            for r in results if r.sample_index < samples]


async def run_corrections(prover: CorrectingProver, store: RunStore, problems: Sequence[Problem],
                          samples: int, tree: CorrectionTree, concurrency: int,
                          progress: Callable[[str, bool], None] | None = None) -> None:
    """Run every missing correction, round after round (each round needs the whole previous
    round of its problem); store each as it finishes."""
    slots = asyncio.Semaphore(concurrency)

    async def one(problem: Problem, parent: Trajectory, index: int) -> None:
        async with slots:
            trajectory = await prover.correct(problem, parent, index)
        store.add(trajectory)
        if progress is not None:
            progress(problem.name, trajectory.solved)

    for round_index in range(1, tree.rounds + 1):
        low, high = tree.round_offset(samples, round_index - 1), tree.round_offset(samples, round_index)
        todo = []
        for problem in problems:
            stored = {t.sample_index: t for t in store.trajectories(problem.name)}
            previous = [t for i, t in stored.items() if low <= i < high]
            for parent in correction_parents(previous):
                for j in range(tree.children):
                    index = tree.child_index(samples, parent.sample_index, j)
                    if index not in stored:
                        todo.append((problem, parent, index))
        await asyncio.gather(*(one(p, parent, i) for p, parent, i in todo))
