"""Whole-proof provers (the baselines): sample a complete proof, verify it, and feed the
errors back for correction as each prover published (``provers.styles``).

A correction re-renders the whole conversation with the chat template, as these
provers do; when the template rewrites earlier turns (e.g. drops the thinking) the
new context is not an extension of the old one, and the trajectory notes the round
in ``meta["rerendered_rounds"]``.

Every output is extracted and checked whatever its finish reason, as upstream does
(a truncated output may still end in a complete block). Trajectory ``meta`` keys this
module writes: ``style``, ``loop``, ``messages`` (the conversation that prompted the last
generation), ``feedback`` (the correction turn the last attempt earned, or None),
``round`` (0 for a first attempt, r for the r-th correction), ``correction_skipped`` (why a
correction upstream would filter was not run), ``prompt_skipped``,
``placeholder_check`` (Lean's reply to a Goedel placeholder text), ``parent_sample``.
"""

from __future__ import annotations

import dataclasses

from stepprover.agent.loop import LoopConfig
from stepprover.agent.prompts import render_chat
from stepprover.agent.trajectory import Finish, ReplCall, Segment, Trajectory
from stepprover.data.problems import Problem
from stepprover.errors import outage_of
from stepprover.lean.outcome import CommandStatus
from stepprover.lean.protocol import CommandReply
from stepprover.lean.source import split_imports
from stepprover.lean.verify import Outcome, SketchRepl, Verdict, Verifier
from stepprover.models.base import Generator, generate_or_outage, generated_text
from stepprover.provers.styles import Attempt, WholeProofStyle


class WholeProofAgent:
    def __init__(
        self,
        generator: Generator,
        verifier: Verifier,
        style: WholeProofStyle,
        config: LoopConfig | None = None,
        repl: SketchRepl | None = None,
    ) -> None:
        self.generator = generator
        self.verifier = verifier
        self.style = style
        self.config = config or LoopConfig(
            max_context_tokens=style.budgets.max_context_tokens,
            max_tokens_per_call=style.budgets.max_tokens_per_call,
            final_timeout=style.budgets.verify_timeout, sampling=style.sampling,
            prompt_style=style.name,
        )  # fmt: skip
        """Without one, the style's own budgets and sampling."""
        self.repl = repl
        """Where placeholder texts upstream compiles for feedback are run (Goedel's "None")."""

    async def run(self, problem: Problem, sample_index: int = 0) -> Trajectory:
        return await self._sample(problem, self.style.prompt.messages(problem), sample_index, None)

    async def correct(self, problem: Problem, parent: Trajectory, sample_index: int) -> Trajectory:
        """A new sample continuing ``parent``'s conversation with the correction it earned
        (``parent.meta["feedback"]``): the correction tree's child."""
        feedback = parent.meta.get("feedback")
        if feedback is None:
            raise ValueError(
                f"sample {parent.sample_index} of {parent.problem} earned no correction"
            )
        last_output = [s for s in parent.segments if s.kind == "model"][-1].text
        messages = [
            *parent.meta["messages"],
            {"role": "assistant", "content": last_output},
            {"role": "user", "content": feedback},
        ]
        return await self._sample(problem, messages, sample_index, parent)

    async def _sample(
        self,
        problem: Problem,
        messages: list[dict[str, str]],
        sample_index: int,
        parent: Trajectory | None,
    ) -> Trajectory:
        tokenizer = self.generator.tokenizer
        prompt_text = render_chat(tokenizer, messages)
        trajectory = Trajectory(
            problem=problem.name, prompt_text=prompt_text,
            prompt_ids=tokenizer.encode(prompt_text, add_special_tokens=False),
            sample_index=sample_index,
            meta={"style": self.style.name, "loop": dataclasses.asdict(self.config),
                  "rerendered_rounds": [], "messages": list(messages), "feedback": None},
        )  # fmt: skip
        if parent is not None:
            trajectory.meta["parent_sample"] = parent.sample_index
        first_round = 0 if parent is None else int(parent.meta.get("round", 0)) + 1
        try:
            limit = self.style.max_prompt_tokens
            if limit is not None and len(trajectory.prompt_ids) > limit:
                trajectory.meta["correction_skipped" if parent else "prompt_skipped"] = (
                    "prompt_too_long"
                )
                trajectory.finish = Finish.CONTEXT_EXHAUSTED
            else:
                trajectory.finish = await self._rounds(trajectory, problem, messages, first_round)
        except Exception as exc:  # the boundary of one sample: record, don't kill the batch
            outage = outage_of(exc)
            trajectory.finish = Finish.OUTAGE if outage else Finish.ERROR
            trajectory.error = str(outage) if outage else f"{type(exc).__name__}: {exc}"
        return trajectory

    async def _rounds(
        self,
        trajectory: Trajectory,
        problem: Problem,
        messages: list[dict[str, str]],
        first_round: int,
    ) -> Finish:
        tokenizer, config, style = self.generator.tokenizer, self.config, self.style
        eos = int(tokenizer.eos_token_id)
        context_ids = list(trajectory.prompt_ids)
        for turn in range(style.rounds + 1):
            room = config.max_context_tokens - len(context_ids)
            if room <= 0:
                return Finish.CONTEXT_EXHAUSTED
            params = config.sampling.with_max_tokens(min(config.max_tokens_per_call, room))
            generation = await generate_or_outage(self.generator, context_ids, params, [eos])
            ids = generation.token_ids
            text = generated_text(tokenizer, ids)
            trajectory.segments.append(
                Segment(
                    kind="model",
                    text=text,
                    token_ids=ids,
                    elapsed=generation.elapsed,
                    finish_reason=generation.finish_reason,
                )
            )
            context_ids += ids
            finish = Finish.ANSWERED
            if generation.finish_reason != "stop":
                full = len(context_ids) >= config.max_context_tokens
                finish = Finish.CONTEXT_EXHAUSTED if full else Finish.LENGTH
            trajectory.final_context_tokens = len(context_ids)
            extracted = style.extract(text, problem)
            trajectory.final_proof = extracted.code
            trajectory.extracted_proof = extracted.upstream_code
            trajectory.meta["round"] = first_round + turn
            placeholder = (
                extracted.compile_anyway if style.feedback else None
            )  # only feedback needs it
            verdict, checked = await self._check(trajectory, problem, extracted.code, placeholder)
            if (
                verdict is not None
                and verdict.proved
                and style.incomplete is not None
                and (reason := style.incomplete(verdict))
            ):
                verdict = verdict.model_copy(
                    update={"outcome": Outcome.LEAN_ERROR, "reason": reason}
                )
            trajectory.verdict = verdict if extracted.code is not None else None
            feedback = None
            if (
                verdict is not None
                and checked is not None
                and not verdict.proved
                and style.feedback
            ):
                feedback = style.feedback(
                    Attempt(problem, checked, verdict, first_round + turn, config.final_timeout)
                )
            if style.tree is not None:  # the runner continues this conversation as new samples
                trajectory.meta["feedback"] = self._filtered(trajectory, feedback)
                return finish
            if turn == style.rounds or self._filtered(trajectory, feedback) is None:
                return finish
            assert feedback is not None and verdict is not None and checked is not None
            messages = [
                *messages,
                {"role": "assistant", "content": text},
                {"role": "user", "content": feedback},
            ]
            # The model sees the whole conversation re-rendered and re-tokenised, as upstream
            # prompts it; where that extends the context token for token, only the new tokens
            # are a segment, else (the template rewrote earlier turns) the whole of it is.
            rendered = render_chat(tokenizer, messages)
            new_context = tokenizer.encode(rendered, add_special_tokens=False)
            extends = new_context[: len(context_ids)] == context_ids
            joint_ids = new_context[len(context_ids) :] if extends else list(new_context)
            joint = tokenizer.decode(joint_ids, skip_special_tokens=False)
            if style.max_prompt_tokens is not None and len(new_context) > style.max_prompt_tokens:
                trajectory.meta["correction_skipped"] = "prompt_too_long"
                return finish
            if not extends:
                trajectory.meta["rerendered_rounds"].append(turn + 1)
            context_ids = new_context
            trajectory.meta["messages"] = messages
            trajectory.segments.append(Segment(kind="feedback", text=joint, token_ids=joint_ids))
            trajectory.repl_calls.append(ReplCall(
                sketch=checked, status=CommandStatus.OK, reply=verdict.reply, feedback=feedback,
                latency=verdict.elapsed, context_tokens=len(context_ids),
            ))  # fmt: skip
        return Finish.ANSWERED

    def _filtered(self, trajectory: Trajectory, feedback: str | None) -> str | None:
        """The feedback, or None where the style's length filter drops the correction."""
        limit = self.style.max_feedback_chars
        if feedback is not None and limit is not None and len(feedback) > limit:
            trajectory.meta["correction_skipped"] = "feedback_too_long"
            return None
        return feedback

    async def _check(
        self, trajectory: Trajectory, problem: Problem, code: str | None, placeholder: str | None
    ) -> tuple[Verdict | None, str | None]:
        """(verdict, the file Lean checked): the proof verified, or a placeholder compiled."""
        timeout = self.config.final_timeout
        if code is not None:
            return await self.verifier.check(
                code, statement=problem.verified_statement, timeout=timeout
            ), code
        if placeholder is None or self.repl is None:
            return None, None
        verdict = await self._compile(placeholder, timeout)
        trajectory.meta["placeholder_check"] = {
            "code": placeholder,
            "outcome": verdict.outcome.value,
            "reply": verdict.reply,
        }
        return verdict, placeholder

    async def _compile(self, code: str, timeout: float) -> Verdict:  # noqa: ASYNC109 - see SketchRepl
        """Lean's plain answer to a text that holds no proof (no integrity checks: it can
        never count as proved), positions relative to the whole text."""
        assert self.repl is not None
        source = split_imports(code)
        outcome = await self.repl.run_command(source.imports, source.body, timeout)
        if outcome.status is CommandStatus.TIMEOUT:
            return Verdict(outcome=Outcome.TIMEOUT, reason=outcome.detail)
        if outcome.status is CommandStatus.REFUSED:  # the text's own imports: Lean's judgement
            return Verdict(outcome=Outcome.LEAN_ERROR, reason=outcome.detail)
        if not outcome.ok:
            return Verdict(outcome=Outcome.CRASH, reason=outcome.detail)
        reply, raw = outcome.parsed, outcome.reply
        if not isinstance(reply, CommandReply):
            return Verdict(outcome=Outcome.CRASH, reason="no command reply", reply=raw)
        messages = [m.model_copy(update={
            "pos": m.pos.model_copy(update={"line": m.pos.line + source.body_line_offset}),
            "end_pos": None if m.end_pos is None else
            m.end_pos.model_copy(update={"line": m.end_pos.line + source.body_line_offset}),
        }) for m in reply.messages]  # fmt: skip
        errors = [m for m in messages if m.severity == "error"]
        kind = Outcome.LEAN_ERROR if errors else Outcome.REJECTED
        reason = errors[0].data if errors else "no proof to verify"
        return Verdict(outcome=kind, reason=reason, messages=messages, reply=raw)
