"""Hugging Face transformers backend, for small models on CPU or one GPU."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from stepprover.models.base import Generation, SamplingParams, Tokenizer, finish_for


class TransformersGenerator:
    """Samples with ``model.generate``. Calls run one at a time in a worker thread,
    so the event loop (and the REPL work of other trajectories) keeps going."""

    def __init__(self, model: Any, tokenizer: Tokenizer) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self._lock = asyncio.Lock()

    @classmethod
    def from_pretrained(
        cls, path: str, *, device: str | None = None, dtype: str = "auto"
    ) -> TransformersGenerator:
        """Load weights and tokenizer from a local folder or the Hugging Face cache."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()
        return cls(model, tokenizer)

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams, stop_token_ids: list[int]
    ) -> Generation:
        started = time.monotonic()
        async with self._lock:
            ids = await asyncio.to_thread(self._generate, prompt_ids, params, stop_token_ids)
        finish, stop_id = finish_for(ids, stop_token_ids)
        return Generation(ids, finish, stop_id, time.monotonic() - started)

    def _generate(
        self, prompt_ids: list[int], params: SamplingParams, stop_token_ids: list[int]
    ) -> list[int]:
        import torch

        device = next(self.model.parameters()).device
        if params.seed is not None:
            torch.manual_seed(params.seed)
        sample = params.temperature > 0
        with torch.no_grad():
            output = self.model.generate(
                input_ids=torch.tensor([prompt_ids], device=device),
                attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long, device=device),
                max_new_tokens=params.max_tokens,
                do_sample=sample,
                temperature=params.temperature if sample else None,
                top_p=params.top_p if sample else None,
                top_k=params.top_k if sample and params.top_k > 0 else None,
                eos_token_id=stop_token_ids,
                pad_token_id=stop_token_ids[0],
            )
        ids: list[int] = output[0, len(prompt_ids) :].tolist()
        stop_at = next((i for i, t in enumerate(ids) if t in stop_token_ids), None)
        return ids if stop_at is None else ids[: stop_at + 1]

    async def close(self) -> None:
        return None
