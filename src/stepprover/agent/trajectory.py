"""A trajectory: everything one attempt at one problem produced, token for token.

The context the model saw is ``prompt_ids`` followed by every segment's ids in
order. Model segments are what the model generated (loss mask 1); feedback
segments are the tokenised ``<REPL>`` blocks (loss mask 0), as is the prompt.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from stepprover.lean.outcome import CommandStatus
from stepprover.lean.verify import Verdict


class Finish(StrEnum):
    """Why the trajectory ended."""

    ANSWERED = "answered"
    """The model ended its turn (EOS); the final proof, if any, was verified."""
    FORMAT_ERROR = "format_error"
    """A turn stopped at ``</sketch>`` without a ``<sketch>``."""
    REPL_BUDGET = "repl_budget"
    """The model asked for one REPL call more than ``max_repl_calls``."""
    CONTEXT_EXHAUSTED = "context_exhausted"
    """The context reached ``max_context_tokens``."""
    LENGTH = "length"
    """One call reached its ``max_tokens`` with context left."""
    ERROR = "error"
    """Something other than an outage failed mid-way (``error`` says what): no result
    either, retried like an outage (runs stored before it was so marked hold these)."""
    OUTAGE = "outage"
    """The model server or Lean's machinery was unavailable after its retries
    (``errors.Outage``; ``error`` names the endpoint): no result, retry the sample."""


RETRYABLE = frozenset({Finish.OUTAGE, Finish.ERROR})
"""Finishes that are no result: the sample is redone by the next run."""


class Segment(BaseModel):
    """A run of context tokens from one source."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["model", "feedback"]
    text: str
    token_ids: list[int]
    elapsed: float = 0.0
    """Generation time (model) or REPL time (feedback), seconds."""
    finish_reason: str | None = None
    """For model segments: "stop" or "length"."""
    logprobs: list[float | None] | None = None
    """For model segments whose backend reported them: each token's sampling log-probability."""


class ReplCall(BaseModel):
    """One sketch sent to Lean and what came back."""

    model_config = ConfigDict(frozen=True)

    sketch: str
    """The text sent (after the reference cleanup)."""
    status: CommandStatus
    """``ok``, ``timeout`` or ``crash`` (an ``infrastructure`` outcome ends the sample instead)."""
    reply: dict[str, Any] | None
    """The REPL's raw JSON reply, ``env`` included (None on timeout or crash)."""
    feedback: str
    """The exact text appended to the context."""
    latency: float
    context_tokens: int
    """Context length when the model closed this sketch."""


class Trajectory(BaseModel):
    """One sample: prompt, segments, REPL calls, final proof and verdict."""

    problem: str
    prompt_text: str
    prompt_ids: list[int]
    segments: list[Segment] = Field(default_factory=list)
    repl_calls: list[ReplCall] = Field(default_factory=list)
    finish: Finish | None = None
    error: str | None = None
    final_proof: str | None = None
    """The proof body extracted from the final answer (import lines removed); for the
    whole-proof baselines, the complete file verified."""
    extracted_proof: str | None = None
    """Whole-proof baselines whose upstream pipeline rewrites its extraction before compiling
    it (Goedel-V2's line filter): the text as extracted, before that rewriting."""
    final_context_tokens: int | None = None
    """Context length when the final answer was complete."""
    verdict: Verdict | None = None
    sample_index: int = 0
    meta: dict[str, Any] = Field(default_factory=dict)
    """Sampling parameters, budgets, model and prompt style of the run."""

    @property
    def retryable(self) -> bool:
        """True when an outage or another failure cut the sample short: it is not a result."""
        return self.finish in RETRYABLE

    @property
    def solved(self) -> bool:
        return self.verdict is not None and self.verdict.proved

    @property
    def context_ids(self) -> list[int]:
        return [*self.prompt_ids, *(t for s in self.segments for t in s.token_ids)]

    @property
    def completion_text(self) -> str:
        """Everything after the prompt, as the model saw it."""
        return "".join(s.text for s in self.segments)

    @property
    def completion_ids(self) -> list[int]:
        return [t for s in self.segments for t in s.token_ids]

    def completion_logprobs(self) -> list[float | None]:
        """Sampling log-probabilities aligned with ``completion_ids``: 0.0 on feedback
        tokens (never trained on), None where the backend reported none."""
        logprobs: list[float | None] = []
        for segment in self.segments:
            if segment.kind == "feedback":
                logprobs += [0.0] * len(segment.token_ids)
            elif segment.logprobs is not None and len(segment.logprobs) == len(segment.token_ids):
                logprobs += segment.logprobs
            else:
                logprobs += [None] * len(segment.token_ids)
        return logprobs

    def loss_mask(self, *, include_prompt: bool = True) -> list[int]:
        """1 on model tokens, 0 on prompt and feedback tokens, aligned with ``context_ids``."""
        mask = [0] * len(self.prompt_ids) if include_prompt else []
        for segment in self.segments:
            mask += [1 if segment.kind == "model" else 0] * len(segment.token_ids)
        return mask


def save_jsonl(trajectories: Iterable[Trajectory], path: Path | str) -> None:
    with Path(path).open("w", encoding="utf-8") as f:
        f.writelines(trajectory.model_dump_json() + "\n" for trajectory in trajectories)


TRAJECTORY_LINE_LIMIT = 256 * 2**20
"""Bytes in one line of a trajectory JSONL (one trajectory, its token ids included)."""


def load_jsonl(path: Path | str) -> list[Trajectory]:
    """Trajectories, one a line, each line read against ``TRAJECTORY_LINE_LIMIT``."""
    from stepprover.data.problems import limited_lines

    with Path(path).open("rb") as f:
        lines = limited_lines(f, TRAJECTORY_LINE_LIMIT, path)
        return [Trajectory.model_validate_json(line) for line in lines if line.strip()]
