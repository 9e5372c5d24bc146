"""Which model the GRPO rollouts sample from, and how.

- No vLLM (``use_vllm: false``): ``transformers`` sampling on ``trainer.model`` itself,
  so the rollout weights are the trainer's by construction (slow; for small models).
- ``vllm_mode: colocate``: TRL's in-process ``vllm.LLM`` on each training GPU. TRL
  pushes the trainer's weights into it before every rollout. ``LLM.generate`` is
  synchronous and belongs to the trainer's thread, so the agent loop (which runs on
  a background event loop) queues its turns and the trainer's thread answers them in
  batches: every turn waiting at a moment goes to vLLM in one call.
- ``vllm_mode: server``: ``trl vllm-serve`` (a plain ``vllm serve`` that TRL feeds
  weights over NCCL), called from every rank through its OpenAI-compatible API; the
  server batches the turns of all trajectories itself.

Both vLLM paths return each sampled token's log-probability, which TRL's
importance-sampling correction needs (vLLM and the trainer do not compute the same
probabilities to the last bit).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import math
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stepprover.models.base import Generation, Generator, SamplingParams, Tokenizer, finish_for
from stepprover.models.openai_compat import OpenAICompatGenerator
from stepprover.models.transformers_local import TransformersGenerator
from stepprover.models.vllm_engine import vllm_sampling


@dataclass
class TurnRequest:
    """One turn of one trajectory, waiting for the trainer's thread."""

    prompt_ids: list[int]
    params: SamplingParams
    stop_token_ids: list[int]
    future: concurrent.futures.Future[Generation] = field(default_factory=concurrent.futures.Future)


BatchGenerate = Callable[[list[TurnRequest]], list[Generation]]
"""Answers a batch of turns, in order, on the calling thread."""


class TrainerThreadGenerator:
    """A ``Generator`` whose turns are answered by whoever calls ``serve_until``.

    ``generate`` may be awaited from any event loop; ``serve_until`` runs on the
    trainer's thread and hands every turn queued within ``linger`` seconds of the
    first to ``batch_generate`` at once.
    """

    def __init__(
        self, tokenizer: Tokenizer, batch_generate: BatchGenerate, *, linger: float = 0.02
    ) -> None:
        self.tokenizer = tokenizer
        self.batch_generate = batch_generate
        self.linger = linger
        self._queue: queue.Queue[TurnRequest] = queue.Queue()

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams, stop_token_ids: list[int]
    ) -> Generation:
        request = TurnRequest(prompt_ids, params, stop_token_ids)
        self._queue.put(request)
        return await asyncio.wrap_future(request.future)

    def serve_until(self, done: concurrent.futures.Future[Any], *, poll: float = 0.01) -> None:
        """Answer turns until ``done`` completes (the rollouts' future)."""
        while not done.done():
            try:
                first = self._queue.get(timeout=poll)
            except queue.Empty:
                continue
            batch = [r for r in self._batch_from(first) if r.future.set_running_or_notify_cancel()]
            if batch:  # turns whose trajectory was cancelled meanwhile are dropped
                self._answer(batch)

    def _batch_from(self, first: TurnRequest) -> list[TurnRequest]:
        batch = [first]
        deadline = time.monotonic() + self.linger
        while (left := deadline - time.monotonic()) > 0:
            try:
                batch.append(self._queue.get(timeout=left))
            except queue.Empty:
                break
        return batch

    def _answer(self, batch: list[TurnRequest]) -> None:
        try:
            generations = self.batch_generate(batch)
            if len(generations) != len(batch):
                raise RuntimeError(f"the backend answered {len(generations)} of {len(batch)} turns")
        except Exception as exc:  # each trajectory records it and ends with reward 0
            for request in batch:
                request.future.set_exception(exc)
            return
        for request, generation in zip(batch, generations, strict=True):
            request.future.set_result(generation)

    async def close(self) -> None:
        return None


def colocated_vllm_batch(llm: Any, sampling_params_type: Any = None) -> BatchGenerate:
    """Batch turns into one ``vllm.LLM.generate`` call, one ``SamplingParams`` per turn
    (budgets differ per trajectory), asking for the sampled token's logprob."""
    if sampling_params_type is None:
        import vllm

        sampling_params_type = vllm.SamplingParams

    def generate(batch: list[TurnRequest]) -> list[Generation]:
        started = time.monotonic()
        params = [
            sampling_params_type(n=1, logprobs=0, **vllm_sampling(r.params, r.stop_token_ids))
            for r in batch
        ]
        outputs = llm.generate(
            [{"prompt_token_ids": r.prompt_ids} for r in batch],
            sampling_params=params,
            use_tqdm=False,
        )
        generations = []
        for request, output in zip(batch, outputs, strict=True):
            sample = output.outputs[0]
            ids = [int(t) for t in sample.token_ids]
            finish, stop_id = finish_for(ids, request.stop_token_ids)
            generations.append(
                Generation(
                    ids,
                    finish,
                    stop_id,
                    time.monotonic() - started,
                    sampled_logprobs(ids, sample.logprobs),
                )
            )
        return generations

    return generate


def sampled_logprobs(token_ids: list[int], per_token: Any) -> list[float | None] | None:
    """The sampled token's logprob from vLLM's per-position ``{token_id: Logprob}`` maps."""
    if per_token is None:
        return None
    values: list[float | None] = []
    for token_id, candidates in zip(token_ids, per_token, strict=True):
        entry = candidates.get(token_id) if candidates else None
        value = None if entry is None else float(entry.logprob)
        values.append(
            None if value is None or math.isnan(value) else value
        )  # NaN -> None, as TRL does
    return values


@functools.cache
def served_model(base_url: str) -> str:
    """The model name a vLLM server serves (``/v1/models``), asked once per run: a server
    that goes away later fails the turns (reward 0, reason logged), not the run."""
    import httpx

    from stepprover.models.bounded_http import bounded_sync_transport

    with httpx.Client(
        transport=bounded_sync_transport(httpx.HTTPTransport()), timeout=30
    ) as client:
        response = client.get(f"{base_url.rstrip('/')}/v1/models")  # read against a limit
    response.raise_for_status()
    return str(response.json()["data"][0]["id"])


def server_base_url(args: Any) -> str:
    return str(
        args.vllm_server_base_url or f"http://{args.vllm_server_host}:{args.vllm_server_port}"
    )


def _just_wait(done: concurrent.futures.Future[Any]) -> None:
    concurrent.futures.wait([done])


@dataclass(frozen=True)
class RolloutSampler:
    """What a step's rollouts sample with: the generator, and what the trainer's thread
    does until the rollouts (running on the agent loop's thread) are done."""

    generator: Generator
    serve_until: Callable[[concurrent.futures.Future[Any]], None] = _just_wait
    """Colocated vLLM answers the queued turns here; other backends just wait."""


def rollout_generator(trainer: Any, *, sampling_params_type: Any = None) -> RolloutSampler:
    """What this trainer's rollouts sample with (see the module docstring)."""
    tokenizer = trainer.processing_class
    if not getattr(trainer, "use_vllm", False):
        return RolloutSampler(TransformersGenerator(trainer.model, tokenizer))
    if trainer.vllm_mode == "colocate":
        batch = colocated_vllm_batch(trainer.vllm_generation.llm, sampling_params_type)
        generator = TrainerThreadGenerator(tokenizer, batch)
        return RolloutSampler(generator, generator.serve_until)
    trainer.accelerator.wait_for_everyone()  # rank 0 may still be pushing the new weights
    base_url = server_base_url(trainer.args)
    return RolloutSampler(
        OpenAICompatGenerator(f"{base_url}/v1", served_model(base_url), tokenizer, logprobs=True)
    )
