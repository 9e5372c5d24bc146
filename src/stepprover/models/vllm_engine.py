"""vLLM in-process backend (``AsyncLLMEngine``), installed with the ``[gpu]`` extra."""

from __future__ import annotations

import itertools
import time
from typing import Any

from stepprover.models.base import Generation, SamplingParams, Tokenizer, finish_for

_request_ids = itertools.count()


def vllm_sampling(params: SamplingParams, stop_token_ids: list[int]) -> dict[str, Any]:
    """vLLM ``SamplingParams`` arguments for one turn: stop at the given token ids and keep
    them (and every special token) in the output, as the loop's context needs."""
    return {
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": params.top_k,
        "max_tokens": params.max_tokens,
        "seed": params.seed,
        "stop_token_ids": stop_token_ids,
        "include_stop_str_in_output": True,
        "skip_special_tokens": False,
    }


class VLLMGenerator:
    """Token-id prompts, stop token ids, prefix caching (the shared prompt and the
    growing context of each trajectory are reused across turns)."""

    def __init__(self, engine: Any, tokenizer: Tokenizer) -> None:
        self.engine = engine
        self.tokenizer = tokenizer

    @classmethod
    def from_model(cls, path: str, **engine_args: Any) -> VLLMGenerator:
        from transformers import AutoTokenizer
        from vllm import AsyncEngineArgs, AsyncLLMEngine

        args = AsyncEngineArgs(model=path, enable_prefix_caching=True, **engine_args)
        return cls(AsyncLLMEngine.from_engine_args(args), AutoTokenizer.from_pretrained(path))

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams, stop_token_ids: list[int]
    ) -> Generation:
        from vllm import SamplingParams as VllmSamplingParams
        from vllm.inputs import TokensPrompt

        started = time.monotonic()
        sampling = VllmSamplingParams(**vllm_sampling(params, stop_token_ids))
        final = None
        request_id = f"stepprover-{next(_request_ids)}"
        async for output in self.engine.generate(
            TokensPrompt(prompt_token_ids=prompt_ids), sampling, request_id
        ):
            final = output
        if final is None:
            raise RuntimeError(f"vLLM returned no output for request {request_id}")
        ids = [int(t) for t in final.outputs[0].token_ids]
        finish, stop_id = finish_for(ids, stop_token_ids)
        return Generation(ids, finish, stop_id, time.monotonic() - started)

    async def close(self) -> None:
        """Stop the engine and free its GPU memory (the cycle trains right after an eval)."""
        # vLLM's V1 AsyncLLM has shutdown(); the older AsyncLLMEngine, shutdown_background_loop().
        for name in ("shutdown", "shutdown_background_loop"):
            stop = getattr(self.engine, name, None)
            if callable(stop):
                stop()
                return
