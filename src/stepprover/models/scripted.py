"""A generator whose output the caller scripts: for tests, demos and benchmarks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from stepprover.models.base import Generation, SamplingParams, Tokenizer, finish_for

FEEDBACK_MARK = "\n<REPL>\n"
Script = Sequence[str] | Callable[[str, int], str]
"""Either the texts of successive calls, or ``f(context_text, call_index) -> text``."""


class ScriptedGenerator:
    """Returns scripted text as a model would: cut at the first stop token or at
    ``max_tokens``, an EOS appended when the text ends without ``</sketch>``.

    One instance serves one trajectory when the script is a list (calls are
    counted); a callable script may serve many at once.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        script: Script,
        *,
        latency: float = 0.0,
        max_concurrency: int | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.script = script
        self.latency = latency
        self.calls = 0
        self._slots = asyncio.Semaphore(max_concurrency) if max_concurrency else None

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams, stop_token_ids: list[int]
    ) -> Generation:
        started = time.monotonic()
        if self._slots is None:
            text = await self._next_text(prompt_ids)
        else:
            async with self._slots:
                text = await self._next_text(prompt_ids)
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        stop_at = next((i for i, t in enumerate(ids) if t in stop_token_ids), None)
        if stop_at is not None:
            ids = ids[: stop_at + 1]
        else:
            ids = [*ids, int(self.tokenizer.eos_token_id)]
        ids = ids[: params.max_tokens]
        finish, stop_id = finish_for(ids, stop_token_ids)
        return Generation(ids, finish, stop_id, time.monotonic() - started)

    async def _next_text(self, prompt_ids: list[int]) -> str:
        index = self.calls
        self.calls += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        if callable(self.script):
            return self.script(self.tokenizer.decode(prompt_ids, skip_special_tokens=False), index)
        if index >= len(self.script):
            raise IndexError(f"the script has {len(self.script)} turns; call {index + 1} asked")
        return self.script[index]

    @classmethod
    def replaying(
        cls, tokenizer: Tokenizer, turns: Sequence[str], **kwargs: Any
    ) -> ScriptedGenerator:
        """Serve any number of trajectories at once: the i-th turn answers a context
        holding i REPL feedback blocks (the last turn answers all later ones)."""

        def turn(context: str, _: int) -> str:
            return turns[min(context.count(FEEDBACK_MARK), len(turns) - 1)]

        return cls(tokenizer, turn, **kwargs)

    async def close(self) -> None:
        return None
