"""Any OpenAI-compatible completions server (``vllm serve``, SGLang), prompts as token ids."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import openai
from openai import omit

from stepprover.errors import ModelBackendUnavailable
from stepprover.models.base import Generation, SamplingParams, Tokenizer, finish_for


class OpenAICompatGenerator:
    """Calls ``/v1/completions`` with the prompt as token ids and vLLM's extra
    parameters (``stop_token_ids``, ``top_k``, ``return_token_ids``). When the
    server returns no token ids, the text is tokenised locally.

    A server that stays unreachable, or answers 429/5xx, after ``max_retries`` retries
    (the openai client's backoff) raises ``ModelBackendUnavailable``."""

    def __init__(
        self,
        base_url: str,
        model: str,
        tokenizer: Tokenizer,
        *,
        api_key: str = "EMPTY",
        max_concurrency: int = 64,
        max_retries: int = 5,
        timeout: float = 1800.0,
        logprobs: bool = False,
    ) -> None:
        from openai import AsyncOpenAI

        self.tokenizer = tokenizer
        self.model = model
        self.base_url = base_url
        self.logprobs = logprobs
        """Ask for each sampled token's log-probability (needs the server's token ids)."""
        self.client = AsyncOpenAI(
            base_url=base_url, api_key=api_key, max_retries=max_retries, timeout=timeout
        )
        self._slots = asyncio.Semaphore(max_concurrency)

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams, stop_token_ids: list[int]
    ) -> Generation:
        started = time.monotonic()
        async with self._slots:
            response = await self._complete(prompt_ids, params, stop_token_ids)
        choice = response.choices[0]
        ids = self._token_ids(choice, stop_token_ids)
        finish, stop_id = finish_for(ids, stop_token_ids)
        logprobs = self._logprobs(choice, len(ids)) if self.logprobs else None
        return Generation(ids, finish, stop_id, time.monotonic() - started, logprobs)

    async def _complete(self, prompt_ids: list[int], params: SamplingParams,
                        stop_token_ids: list[int]) -> Any:
        try:
            return await self.client.completions.create(
                model=self.model,
                prompt=prompt_ids,
                max_tokens=params.max_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                seed=params.seed,
                logprobs=0 if self.logprobs else omit,
                extra_body={
                    "top_k": params.top_k,
                    "stop_token_ids": stop_token_ids,
                    "include_stop_str_in_output": True,
                    "skip_special_tokens": False,
                    "return_token_ids": True,
                },
            )
        except (openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError) as exc:
            raise ModelBackendUnavailable(f"model server {self.base_url}",
                                          f"{type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _logprobs(choice: Any, n_tokens: int) -> list[float | None]:
        extra = choice.model_extra or {}
        values = choice.logprobs.token_logprobs if choice.logprobs is not None else None
        if extra.get("token_ids") is None or values is None or len(values) != n_tokens:
            raise RuntimeError(
                "the server returned no token ids or no per-token logprobs aligned with them; "
                "training needs vLLM's `return_token_ids` and `logprobs` (vLLM >= 0.10.2)"
            )
        return [None if v is None else float(v) for v in values]

    def _token_ids(self, choice: Any, stop_token_ids: list[int]) -> list[int]:
        extra = choice.model_extra or {}
        if extra.get("token_ids") is not None:
            return [int(t) for t in extra["token_ids"]]
        ids = self.tokenizer.encode(choice.text, add_special_tokens=False)
        if choice.finish_reason == "stop" and not (ids and ids[-1] in stop_token_ids):
            # vLLM reports the stop token in stop_reason (None for EOS) but may omit its text.
            stop = extra.get("stop_reason")
            ids.append(int(stop) if isinstance(stop, int) else int(self.tokenizer.eos_token_id))
        return ids

    async def close(self) -> None:
        await self.client.close()
