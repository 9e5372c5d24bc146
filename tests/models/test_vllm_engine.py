"""The vLLM backend against a fake of vLLM's engine API (vLLM cannot be installed here)."""

from __future__ import annotations

import sys
import types
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from stepprover.models.base import SamplingParams
from stepprover.models.vllm_engine import VLLMGenerator


@dataclass
class FakeSamplingParams:
    temperature: float
    top_p: float
    top_k: int
    max_tokens: int
    seed: int | None
    stop_token_ids: list[int]
    include_stop_str_in_output: bool
    skip_special_tokens: bool


@dataclass
class FakeCompletion:
    token_ids: list[int]
    finish_reason: str
    stop_reason: int | None


@dataclass
class FakeRequestOutput:
    outputs: list[FakeCompletion]
    finished: bool


@dataclass
class FakeEngine:
    """Streams outputs like AsyncLLMEngine.generate: growing partial outputs, then the final one."""

    reply: list[int]
    calls: list[tuple[Any, FakeSamplingParams, str]] = field(default_factory=list)
    shut_down: bool = False

    def shutdown(self) -> None:
        self.shut_down = True

    async def generate(
        self, prompt: Any, params: FakeSamplingParams, request_id: str
    ) -> AsyncIterator[FakeRequestOutput]:
        self.calls.append((prompt, params, request_id))
        ids = self.reply[: params.max_tokens]
        for n in range(1, len(ids) + 1):
            done = n == len(ids)
            last = ids[n - 1]
            stop = last if done and last in params.stop_token_ids else None
            finish = "stop" if stop is not None else "length"
            yield FakeRequestOutput([FakeCompletion(ids[:n], finish, stop)], done)


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> None:
    vllm = types.ModuleType("vllm")
    vllm.SamplingParams = FakeSamplingParams  # type: ignore[attr-defined]
    inputs = types.ModuleType("vllm.inputs")
    inputs.TokensPrompt = dict  # type: ignore[attr-defined]  # TokensPrompt is a TypedDict
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.inputs", inputs)


async def test_generate_with_token_prompt_and_stop_ids(tokenizer: Any, fake_vllm: None) -> None:
    close = tokenizer.convert_tokens_to_ids("</sketch>")
    engine = FakeEngine(reply=[10, 11, close, 12])
    gen = VLLMGenerator(engine, tokenizer)
    stops = [tokenizer.eos_token_id, close]
    out = await gen.generate([1, 2, 3], SamplingParams(max_tokens=3, seed=7), stops)
    prompt, params, request_id = engine.calls[0]
    assert prompt == {"prompt_token_ids": [1, 2, 3]}
    assert params.stop_token_ids == stops and params.include_stop_str_in_output
    assert params.seed == 7 and params.top_k == -1 and params.max_tokens == 3
    assert out.token_ids == [10, 11, close] and out.finish_reason == "stop"
    assert out.stop_token_id == close
    second = await gen.generate([1], SamplingParams(max_tokens=2), stops)
    assert second.finish_reason == "length" and engine.calls[1][2] != request_id
    await gen.close()
    assert engine.shut_down
