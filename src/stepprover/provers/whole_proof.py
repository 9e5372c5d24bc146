"""Whole-proof provers (the baselines): sample a complete proof, verify it, and
optionally feed the errors back for correction rounds, as each prover published.

A correction round re-renders the whole conversation with the chat template, as
these provers do; when the template rewrites earlier turns (e.g. drops the
thinking) the new context is not an extension of the old one, and the
trajectory notes the round in ``meta["rerendered_rounds"]``.
"""

from __future__ import annotations

import dataclasses

from stepprover.agent.loop import LoopConfig
from stepprover.agent.prompts import render_chat
from stepprover.agent.trajectory import Finish, ReplCall, Segment, Trajectory
from stepprover.data.problems import Problem
from stepprover.errors import outage_of
from stepprover.lean.outcome import CommandStatus
from stepprover.lean.verify import Verifier
from stepprover.models.base import Generator, generated_text
from stepprover.provers.styles import WholeProofStyle


class WholeProofAgent:
    def __init__(self, generator: Generator, verifier: Verifier, style: WholeProofStyle,
                 config: LoopConfig | None = None) -> None:
        self.generator = generator
        self.verifier = verifier
        self.style = style
        self.config = config or LoopConfig(prompt_style=style.name)

    async def run(self, problem: Problem, sample_index: int = 0) -> Trajectory:
        tokenizer = self.generator.tokenizer
        messages = self.style.prompt.messages(problem)
        prompt_text = render_chat(tokenizer, messages)
        trajectory = Trajectory(
            problem=problem.name, prompt_text=prompt_text,
            prompt_ids=tokenizer.encode(prompt_text, add_special_tokens=False),
            sample_index=sample_index,
            meta={"style": self.style.name, "loop": dataclasses.asdict(self.config),
                  "rerendered_rounds": []},
        )  # fmt: skip
        try:
            trajectory.finish = await self._rounds(trajectory, problem, messages)
        except Exception as exc:  # noqa: BLE001 - the boundary of one sample: record, don't kill the batch
            outage = outage_of(exc)
            trajectory.finish = Finish.OUTAGE if outage else Finish.ERROR
            trajectory.error = str(outage) if outage else f"{type(exc).__name__}: {exc}"
        return trajectory

    async def _rounds(self, trajectory: Trajectory, problem: Problem,
                      messages: list[dict[str, str]]) -> Finish:
        tokenizer, config = self.generator.tokenizer, self.config
        eos = int(tokenizer.eos_token_id)
        context_ids, context_text = list(trajectory.prompt_ids), trajectory.prompt_text
        for round_index in range(self.style.rounds + 1):
            room = config.max_context_tokens - len(context_ids)
            if room <= 0:
                return Finish.CONTEXT_EXHAUSTED
            params = config.sampling.with_max_tokens(min(config.max_tokens_per_call, room))
            generation = await self.generator.generate(context_ids, params, [eos])
            ids = generation.token_ids
            text = generated_text(tokenizer, ids)
            trajectory.segments.append(Segment(kind="model", text=text, token_ids=ids,
                                               elapsed=generation.elapsed,
                                               finish_reason=generation.finish_reason))
            context_ids += ids
            context_text += text
            if generation.finish_reason != "stop":
                full = len(context_ids) >= config.max_context_tokens
                return Finish.CONTEXT_EXHAUSTED if full else Finish.LENGTH
            trajectory.final_context_tokens = len(context_ids)
            code = self.style.extract(text, problem)
            trajectory.final_proof = code
            if code is None:
                trajectory.verdict = None
                return Finish.ANSWERED
            verdict = await self.verifier.check(code, statement=problem.statement_text,
                                                timeout=config.final_timeout)
            trajectory.verdict = verdict
            feedback = None
            if not verdict.proved and round_index < self.style.rounds and self.style.feedback:
                feedback = self.style.feedback(code, verdict, round_index)
            if feedback is None:
                return Finish.ANSWERED
            messages += [{"role": "assistant", "content": text}, {"role": "user", "content": feedback}]
            rendered = render_chat(tokenizer, messages)
            if rendered.startswith(context_text):
                joint = rendered[len(context_text) :]
                joint_ids = tokenizer.encode(joint, add_special_tokens=False)
                context_ids += joint_ids
            else:  # the template rewrote earlier turns: the model sees the new text only
                joint = rendered
                joint_ids = tokenizer.encode(joint, add_special_tokens=False)
                context_ids = list(joint_ids)
                trajectory.meta["rerendered_rounds"].append(round_index + 1)
            context_text = rendered
            trajectory.segments.append(Segment(kind="feedback", text=joint, token_ids=joint_ids))
            trajectory.repl_calls.append(ReplCall(
                sketch=code, status=CommandStatus.OK, reply=verdict.reply, feedback=feedback,
                latency=verdict.elapsed, context_tokens=len(context_ids),
            ))  # fmt: skip
        return Finish.ANSWERED
