"""SFT examples in the reference TIR format, built from trajectories and whole proofs.

An example is the trajectory's own prompt ids followed by its own generated and
feedback ids (never re-rendered through the chat template, which for R1-style
templates drops the thinking), with labels = -100 on the prompt and on every
``<REPL>…</REPL>`` span, so the model learns only what it wrote.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from stepprover.agent.prompts import STEPFUN_TIR
from stepprover.agent.trajectory import Trajectory
from stepprover.data.problems import Problem
from stepprover.models.base import Tokenizer

IGNORE = -100


@dataclass(frozen=True)
class SFTExample:
    input_ids: list[int]
    labels: list[int]
    source: str = ""

    def as_row(self) -> dict[str, Any]:
        return {"input_ids": self.input_ids, "labels": self.labels, "source": self.source}


@dataclass
class BuildStats:
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1


def example_from_trajectory(trajectory: Trajectory) -> SFTExample:
    ids = trajectory.context_ids
    mask = trajectory.loss_mask()
    labels = [token if keep else IGNORE for token, keep in zip(ids, mask, strict=True)]
    return SFTExample(ids, labels, f"{trajectory.problem}#{trajectory.sample_index}")


def examples_from_trajectories(
    trajectories: Iterable[Trajectory],
    *,
    max_tokens: int = 20480,
    solved_only: bool = True,
    stats: BuildStats | None = None,
) -> list[SFTExample]:
    """Verified trajectories (by default), deduplicated by token ids, at most ``max_tokens``
    long."""
    stats = stats if stats is not None else BuildStats()
    seen: set[tuple[int, ...]] = set()
    out = []
    for trajectory in trajectories:
        if solved_only and not trajectory.solved:
            stats.drop("not verified")
            continue
        example = example_from_trajectory(trajectory)
        key = tuple(example.input_ids)
        if key in seen:
            stats.drop("duplicate")
            continue
        if len(example.input_ids) > max_tokens:
            stats.drop("too long")
            continue
        seen.add(key)
        out.append(example)
        stats.kept += 1
    return out


def example_from_whole_proof(
    tokenizer: Tokenizer, problem: Problem, proof: str, thinking: str = ""
) -> SFTExample:
    """A plain proof in the TIR answer format: ``{thinking}</think>`` + a lean4 block + EOS."""
    prompt = STEPFUN_TIR.render(tokenizer, problem)
    prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
    answer = f"{thinking}</think>\n```lean4\n{proof.strip()}\n```"
    answer_ids = [*tokenizer.encode(answer, add_special_tokens=False), int(tokenizer.eos_token_id)]
    return SFTExample(
        [*prompt_ids, *answer_ids], [IGNORE] * len(prompt_ids) + answer_ids, problem.name
    )
