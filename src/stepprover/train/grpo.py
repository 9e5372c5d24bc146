"""Tool-integrated GRPO on TRL's ``GRPOTrainer`` with our own rollouts.

Rollouts are run by the project's agent loop (same prompts, budgets and
verifier as ``stepprover eval``), so what is trained is what is evaluated. The
rollout function returns, per completion, the generated and feedback token ids
with ``env_mask`` = the trajectory's loss mask (0 on ``<REPL>`` feedback), so TRL
leaves REPL tokens out of the policy loss. The reward is 1 for a verified final
proof (integrity checks included), 0 for an answer judged otherwise, and None
(TRL: advantage 0, left out of its group's mean and std) for a sample nobody
judged: no model answer or an infrastructure failure; the reason for every 0 and
None is logged in ``rollouts.jsonl``. Which model samples (``trainer.model`` through
transformers, or TRL's vLLM colocated or served) is chosen by
``rollout_backends.rollout_generator``; with vLLM the sampled tokens' logprobs are
returned for TRL's importance-sampling correction.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stepprover.agent.loop import LoopConfig, TirAgent
from stepprover.agent.prompts import tir_style
from stepprover.agent.trajectory import Finish, Trajectory
from stepprover.data.problems import Problem
from stepprover.lean.verify import SketchRepl, Verifier
from stepprover.train.bridge import LoopThread
from stepprover.train.rollout_backends import RolloutSampler, rollout_generator


def verified_reward(
    completions: list[Any], verified: list[bool | None], **kwargs: Any
) -> list[float | None]:
    """1.0 for a verified final proof, 0.0 for one judged otherwise, None for an unjudged
    sample (TRL reward function signature; TRL >= 1.16 gives a None reward advantage 0
    and leaves it out of its group's statistics)."""
    return [None if v is None else float(v) for v in verified]


def unjudged(trajectory: Trajectory) -> bool:
    """Nothing the model did was judged: it produced no tokens (its first generation failed,
    or its prompt left no room), an outage of the model server or of Lean cut it short
    (finish ``outage``), or something else failed mid-way (finish ``error``). A final proof
    that crashed Lean on two workers is the proof's own doing and is judged (reward 0):
    otherwise crashing Lean would be a way out of a low reward."""
    return (
        trajectory.retryable
        or trajectory.finish is Finish.ERROR
        or not any(s.kind == "model" and s.token_ids for s in trajectory.segments)
    )


def rollout_reward(trajectory: Trajectory, truncated: bool) -> bool | None:
    """True: verified; False: judged and not verified (or cut at ``max_completion_length``);
    None: unjudged (``unjudged``), never trained on."""
    if unjudged(trajectory):
        return None
    return trajectory.solved and not truncated


def zero_reason(trajectory: Trajectory) -> str:
    """Why a trajectory earned no reward, for the rollout log."""
    if trajectory.solved:
        return ""
    if trajectory.error:
        return f"error: {trajectory.error}"
    if trajectory.verdict is not None:
        return f"{trajectory.verdict.outcome.value}: {trajectory.verdict.reason[:200]}"
    if trajectory.finish is Finish.ANSWERED:
        return "no final proof"
    return str(trajectory.finish)


class TirRollout:
    """``rollout_func`` for ``GRPOTrainer``: prompts are ``Problem`` JSON strings."""

    def __init__(
        self,
        repl: SketchRepl,
        verifier: Verifier,
        loop: LoopThread,
        config: LoopConfig,
        *,
        max_completion_length: int,
        log_path: Path | None = None,
        before_rollout: Callable[[Any], None] | None = None,
        generator_for: Callable[[Any], RolloutSampler] = rollout_generator,
    ) -> None:
        self.repl = repl
        self.verifier = verifier
        self.loop = loop
        self.config = config
        self.max_completion_length = max_completion_length
        self.log_path = log_path
        self.before_rollout = before_rollout
        self.generator_for = generator_for

    def __call__(self, prompts: list[str], trainer: Any) -> dict[str, Any]:
        if self.before_rollout is not None:
            self.before_rollout(trainer)
        sampler = self.generator_for(trainer)
        generator = sampler.generator
        agent = TirAgent(generator, self.repl, self.verifier, self.config)
        problems = [Problem.model_validate_json(p) for p in prompts]

        async def all_rollouts() -> list[Trajectory]:
            try:
                return await asyncio.gather(*(agent.run(p, i) for i, p in enumerate(problems)))
            finally:
                await generator.close()

        done = self.loop.submit(all_rollouts())
        sampler.serve_until(done)  # colocated vLLM samples on this (the trainer's) thread
        trajectories = done.result()
        limit = self.max_completion_length
        masks = [t.loss_mask(include_prompt=False) for t in trajectories]  # 1 on model tokens
        completion_ids, env_mask, logprobs, truncated, verified = [], [], [], [], []
        for t, mask in zip(trajectories, masks, strict=True):
            ids, lps = t.completion_ids[:limit], t.completion_logprobs()[:limit]
            cut = len(t.completion_ids) > limit
            if (
                not ids
            ):  # no model answer: one masked EOS, since TRL reads each completion's last id
                ids, mask, lps = [int(generator.tokenizer.eos_token_id)], [0], [0.0]
            completion_ids.append(ids)
            env_mask.append(mask[:limit])
            logprobs.append(lps)
            truncated.append(cut or t.finish in (Finish.CONTEXT_EXHAUSTED, Finish.LENGTH))
            verified.append(rollout_reward(t, cut))
        self._record(trainer, trajectories, verified, truncated, sum(map(sum, masks)))
        sampled = any(s.logprobs is not None for t in trajectories for s in t.segments)
        return {
            "prompt_ids": [t.prompt_ids for t in trajectories],
            "completion_ids": completion_ids,
            "logprobs": logprobs if sampled else None,
            "env_mask": env_mask,
            "verified": verified,
        }

    def _record(
        self,
        trainer: Any,
        trajectories: list[Trajectory],
        verified: list[bool | None],
        truncated: list[bool],
        model_tokens: int,
    ) -> None:
        verdicts = [t.verdict for t in trajectories if t.verdict is not None]
        cached = [v for v in verdicts if v.cached]
        totals = summed_over_processes(trainer, [
            len(trajectories), sum(v is True for v in verified),
            sum(len(t.repl_calls) for t in trajectories),
            sum(truncated), model_tokens, sum(v is None for v in verified),
            len(cached), len(verdicts) - len(cached), sum(v.saved_seconds for v in cached),
        ])  # fmt: skip
        n = max(1.0, totals[0])
        metrics = {
            "stepprover/pass_rate": totals[1] / n,
            "stepprover/repl_calls": totals[2] / n,
            "stepprover/truncated_fraction": totals[3] / n,
            "stepprover/response_tokens": totals[4] / n,
            "stepprover/unjudged": totals[
                5
            ],  # samples with reward None (not trained on), all processes
            "stepprover/verdict_cache_hits": totals[6],
            "stepprover/verdict_cache_misses": totals[7],
            "stepprover/lean_seconds_saved": totals[8],
        }
        store = getattr(trainer, "_metrics", None)
        if isinstance(store, dict) and "train" in store:
            for key, value in metrics.items():
                store["train"][key].append(value)
        if self.log_path is not None:
            rank = getattr(getattr(trainer, "accelerator", None), "process_index", 0)
            step = getattr(
                getattr(trainer, "state", None), "global_step", None
            )  # the step these train
            lines = [
                json.dumps(
                    {
                        "step": step,
                        "rank": rank,
                        "problem": t.problem,
                        "reward": None if ok is None else float(ok),
                        "finish": str(t.finish),
                        "repl_calls": len(t.repl_calls),
                        "reason": zero_reason(t),
                    }
                )
                + "\n"
                for t, ok in zip(trajectories, verified, strict=True)
            ]
            with self.log_path.open("a", encoding="utf-8") as log:
                log.write(
                    "".join(lines)
                )  # one appending write: ranks never interleave within a line


def summed_over_processes(trainer: Any, values: list[float]) -> list[float]:
    """``values`` summed over every training process (each runs its own rollouts), so the
    logged rates are the whole batch's, not rank 0's share."""
    accelerator = getattr(trainer, "accelerator", None)
    if accelerator is None or accelerator.num_processes == 1:
        return [float(v) for v in values]
    import torch

    mine = torch.tensor([values], dtype=torch.float64, device=accelerator.device)
    return [float(v) for v in accelerator.gather(mine).sum(dim=0).tolist()]


def fitting_prompts(
    problems: list[Problem], tokenizer: Any, config: LoopConfig
) -> tuple[list[Problem], int]:
    """The problems whose rendered prompt leaves room to generate under
    ``config.max_context_tokens`` (counted as the loop tokenises it), and how many were dropped."""
    style = tir_style(config.prompt_style)
    kept = [p for p in problems
            if len(tokenizer.encode(style.render(tokenizer, p),
                                    add_special_tokens=config.prompt_special_tokens))
            < config.max_context_tokens]  # fmt: skip
    return kept, len(problems) - len(kept)


def curriculum(counts: dict[str, tuple[int, int]]) -> list[str]:
    """Problems worth RL: pass rate strictly between 0 and 1."""
    return sorted(p for p, (n, c) in counts.items() if n and 0 < c < n)
