"""The tool-integrated reasoning loop: generate, run sketches in Lean, feed back, verify.

By default this follows StepFun-Prover-Preview's demo (prompt, stop tokens, sketch
extraction and cleanup, env 0 = ``import Mathlib``, feedback bytes); where we differ
it is a named option of ``LoopConfig``, and ``LoopConfig.reference()`` sets them all to
the demo's behaviour, which then reproduces its contexts byte for byte (docs/agent.md,
"Reference format and our differences"; tests/agent/test_demo_goldens.py).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from stepprover.agent.prompts import SKETCH_CLOSE, stop_token_ids, tir_style, token_id
from stepprover.agent.tir_format import (
    clean_sketch,
    extract_final_proof,
    extract_sketch,
    sketch_feedback,
)
from stepprover.agent.trajectory import Finish, ReplCall, Segment, Trajectory
from stepprover.data.problems import Problem
from stepprover.errors import LeanUnavailable, outage_of
from stepprover.lean.outcome import CommandStatus
from stepprover.lean.verify import SketchRepl, Verifier
from stepprover.models.base import (
    Generator,
    SamplingParams,
    generate_or_outage,
    generated_text,
    vllm_text,
)


@dataclass(frozen=True)
class LoopConfig:
    """Budgets and behaviour of one trajectory."""

    max_context_tokens: int = 20480
    """Cap on prompt + generations + feedback."""
    max_tokens_per_call: int = 16384
    budget_rule: Literal["hard_cap", "reference"] = "hard_cap"
    """hard_cap (ours): each call gets min(max_tokens_per_call, room left), and no call
    is made without room. reference (demo): each call gets max_tokens_per_call and the
    cap is checked only after a call (prompt + output >= cap stops), so feedback that
    crosses the cap is still followed by one more call."""
    max_repl_calls: int | None = None
    """The (k+1)-th ``</sketch>`` ends the trajectory unsolved."""
    sketch_timeout: float = 60.0
    sketch_imports: str = "import Mathlib"
    """Env 0 of the sketch REPL, whatever the problem's header (as the demo)."""
    resume: Literal["token_ids", "text"] = "token_ids"
    """token_ids (ours): continue from exactly the ids generated plus tokenised
    feedback. text (demo): re-tokenise the whole context text each turn."""
    skip_special_tokens: bool = False
    """False (ours): a turn's text keeps special tokens. True (demo): a turn's text is what
    vLLM returns (``skip_special_tokens=True``): the context text, sketches and final answer
    are cut from it; the token ids are unchanged."""
    prompt_special_tokens: bool = False
    """False (ours): the prompt text is tokenised as it is (the chat template wrote BOS).
    True (demo): tokenised as ``LLM.generate(str)`` does, with the tokenizer's special
    tokens, so a tokenizer that adds BOS gives two (counted in the budget)."""
    length_before_stop: bool = False
    """False (ours): a stop token ends a call as "stop" even as its last allowed token.
    True (vLLM V1 0.10.x, the demo's engine): a call that used all its max_tokens ends
    as "length" even when its last token is ``</sketch>`` or EOS."""
    final_timeout: float = 300.0
    sampling: SamplingParams = field(default_factory=SamplingParams)
    prompt_style: str = "stepfun-tir"

    @classmethod
    def reference(cls, **overrides: Any) -> LoopConfig:
        """Every behaviour of StepFun-Prover-Preview's demo that reaches the model (text
        resume, vLLM's text and prompt tokenisation, its budget check and stop order);
        ``overrides`` set any other field. docs/agent.md: "Reference format and our differences"."""
        settings: dict[str, Any] = {
            "resume": "text", "budget_rule": "reference", "skip_special_tokens": True,
            "prompt_special_tokens": True, "length_before_stop": True,
        }  # fmt: skip
        return cls(**{**settings, **overrides})

    def __post_init__(self) -> None:
        if self.max_context_tokens < 1 or self.max_tokens_per_call < 1:
            raise ValueError("LoopConfig token budgets must be positive")
        if self.max_repl_calls is not None and self.max_repl_calls < 0:
            raise ValueError("LoopConfig.max_repl_calls must be >= 0 or None")


class TirAgent:
    """Runs trajectories; many may run at once on one agent."""

    def __init__(
        self,
        generator: Generator,
        repl: SketchRepl,
        verifier: Verifier,
        config: LoopConfig | None = None,
    ) -> None:
        self.generator = generator
        self.repl = repl
        self.verifier = verifier
        self.config = config or LoopConfig()
        self.style = tir_style(self.config.prompt_style)
        tokenizer = generator.tokenizer
        self.stop_ids = stop_token_ids(tokenizer, tool_use=self.style.tool_use)
        self.sketch_stop = token_id(tokenizer, SKETCH_CLOSE) if self.style.tool_use else None

    async def run(self, problem: Problem, sample_index: int = 0) -> Trajectory:
        """One trajectory. Failures of the backend or verifier are recorded, never raised."""
        tokenizer = self.generator.tokenizer
        prompt_text = self.style.render(tokenizer, problem)
        trajectory = Trajectory(
            problem=problem.name,
            prompt_text=prompt_text,
            prompt_ids=tokenizer.encode(
                prompt_text, add_special_tokens=self.config.prompt_special_tokens
            ),
            sample_index=sample_index,
            meta={"loop": asdict(self.config)},
        )
        try:
            trajectory.finish = await self._converse(trajectory)
            if trajectory.finish is Finish.ANSWERED:
                await self._verify_final(trajectory, problem)
        except Exception as exc:  # the boundary of one sample: record, don't kill the batch
            outage = outage_of(exc)
            trajectory.finish = Finish.OUTAGE if outage else Finish.ERROR
            trajectory.error = str(outage) if outage else f"{type(exc).__name__}: {exc}"
        return trajectory

    async def _converse(self, trajectory: Trajectory) -> Finish:
        config, tokenizer = self.config, self.generator.tokenizer
        context_ids = list(trajectory.prompt_ids)
        context_text = trajectory.prompt_text
        while True:
            prompt = (
                context_ids
                if config.resume == "token_ids"
                else tokenizer.encode(context_text, add_special_tokens=config.prompt_special_tokens)
            )
            max_tokens = config.max_tokens_per_call
            if config.budget_rule == "hard_cap":
                room = config.max_context_tokens - len(prompt)
                if room <= 0:
                    return Finish.CONTEXT_EXHAUSTED
                max_tokens = min(max_tokens, room)
            generation = await generate_or_outage(
                self.generator, prompt, config.sampling.with_max_tokens(max_tokens), self.stop_ids
            )
            finish_reason = generation.finish_reason
            if config.length_before_stop and len(generation.token_ids) >= max_tokens:
                finish_reason = "length"
            context_length = len(prompt) + len(generation.token_ids)
            text = (
                vllm_text(tokenizer, generation.token_ids, prompt)
                if config.skip_special_tokens
                else generated_text(tokenizer, generation.token_ids)
            )
            trajectory.segments.append(
                Segment(
                    kind="model",
                    text=text,
                    token_ids=generation.token_ids,
                    elapsed=generation.elapsed,
                    finish_reason=finish_reason,
                    logprobs=generation.logprobs,
                )
            )
            context_ids += generation.token_ids
            context_text += text
            if finish_reason != "stop":
                full = context_length >= config.max_context_tokens
                return Finish.CONTEXT_EXHAUSTED if full else Finish.LENGTH
            if config.budget_rule == "reference" and context_length >= config.max_context_tokens:
                return Finish.CONTEXT_EXHAUSTED
            if generation.stop_token_id != self.sketch_stop:
                trajectory.final_context_tokens = context_length
                return Finish.ANSWERED
            if (
                config.max_repl_calls is not None
                and len(trajectory.repl_calls) >= config.max_repl_calls
            ):
                return Finish.REPL_BUDGET
            sketch = extract_sketch(text)
            if sketch is None:
                return Finish.FORMAT_ERROR
            call = await self._run_sketch(clean_sketch(sketch), context_length)
            feedback_ids = tokenizer.encode(call.feedback, add_special_tokens=False)
            trajectory.repl_calls.append(call)
            trajectory.segments.append(
                Segment(
                    kind="feedback",
                    text=call.feedback,
                    token_ids=feedback_ids,
                    elapsed=call.latency,
                )
            )
            context_ids += feedback_ids
            context_text += call.feedback

    async def _run_sketch(self, sketch: str, context_tokens: int) -> ReplCall:
        started = time.monotonic()
        outcome = await self.repl.run_command(
            self.config.sketch_imports, sketch, self.config.sketch_timeout
        )
        # Lean itself is not usable (the sketch imports are the run's, not the model's, so
        # their refusal is the setup's): the sample cannot go on.
        if outcome.status in (CommandStatus.INFRASTRUCTURE, CommandStatus.REFUSED):
            raise LeanUnavailable(outcome.detail)
        return ReplCall(
            sketch=sketch,
            status=outcome.status,
            reply=outcome.reply,
            feedback=sketch_feedback(outcome),
            latency=time.monotonic() - started,
            context_tokens=context_tokens,
        )

    async def _verify_final(self, trajectory: Trajectory, problem: Problem) -> None:
        proof = extract_final_proof(trajectory.completion_text)
        trajectory.final_proof = proof
        if proof is None:
            return
        trajectory.verdict = await self.verifier.check(
            problem.with_proof(proof),
            statement=problem.verified_statement,
            timeout=self.config.final_timeout,
        )
