"""The OpenAI-compatible backend against a local server that imitates vLLM."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from stepprover.models.base import SamplingParams
from stepprover.models.openai_compat import OpenAICompatGenerator
from tests.fakes.endless_http import endless_http_server
from tests.models.fake_vllm_server import FakeVllmState, fake_vllm_server


def sketch_responder(tokenizer: Any) -> Any:
    close = tokenizer.convert_tokens_to_ids("</sketch>")

    def respond(body: dict[str, Any]) -> tuple[list[int], str, int | None]:
        ids = tokenizer.encode("<sketch>theorem x : True := trivial", add_special_tokens=False)
        return [*ids, close], "stop", close

    return respond


async def test_token_id_prompts_and_vllm_parameters(tokenizer: Any) -> None:
    state = FakeVllmState(sketch_responder(tokenizer))
    with fake_vllm_server(state) as url:
        gen = OpenAICompatGenerator(url, "m", tokenizer, max_retries=0)
        stops = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("</sketch>")]
        out = await gen.generate([5, 6, 7], SamplingParams(max_tokens=99, seed=3), stops)
        await gen.close()
    body = state.requests[0]
    assert body["prompt"] == [5, 6, 7] and body["max_tokens"] == 99 and body["seed"] == 3
    assert body["stop_token_ids"] == stops and body["top_k"] == -1
    assert body["temperature"] == 0.999 and body["top_p"] == 0.95
    assert body["include_stop_str_in_output"] is True and body["return_token_ids"] is True
    assert out.finish_reason == "stop" and out.stop_token_id == stops[1]
    assert out.token_ids[-1] == stops[1]
    assert "logprobs" not in body and out.logprobs is None


async def test_sampled_logprobs_when_asked(tokenizer: Any) -> None:
    state = FakeVllmState(sketch_responder(tokenizer))
    with fake_vllm_server(state) as url:
        gen = OpenAICompatGenerator(url, "m", tokenizer, max_retries=0, logprobs=True)
        out = await gen.generate(
            [5], SamplingParams(), [tokenizer.convert_tokens_to_ids("</sketch>")]
        )
        await gen.close()
    assert state.requests[0]["logprobs"] == 0
    assert out.logprobs == [-0.5] * len(out.token_ids)


async def test_logprobs_without_token_ids_is_an_error(tokenizer: Any) -> None:
    state = FakeVllmState(
        sketch_responder(tokenizer),
        return_token_ids=False,
        decode=lambda ids: tokenizer.decode(ids, skip_special_tokens=False),
    )
    with fake_vllm_server(state) as url:
        gen = OpenAICompatGenerator(url, "m", tokenizer, max_retries=0, logprobs=True)
        with pytest.raises(RuntimeError, match="return_token_ids"):
            await gen.generate(
                [5], SamplingParams(), [tokenizer.convert_tokens_to_ids("</sketch>")]
            )
        await gen.close()


async def test_without_returned_ids_text_is_tokenised_and_stop_restored(tokenizer: Any) -> None:
    eos = tokenizer.eos_token_id

    def respond(body: dict[str, Any]) -> tuple[list[int], str, int | None]:
        return tokenizer.encode("</think> done", add_special_tokens=False), "stop", None

    state = FakeVllmState(
        respond,
        return_token_ids=False,
        decode=lambda ids: tokenizer.decode(ids, skip_special_tokens=False),
    )
    with fake_vllm_server(state) as url:
        gen = OpenAICompatGenerator(url, "m", tokenizer, max_retries=0)
        out = await gen.generate([1], SamplingParams(), [eos])
        await gen.close()
    assert out.token_ids[-1] == eos and out.stop_token_id == eos
    assert tokenizer.decode(out.token_ids[:-1]) == "</think> done"


async def test_retries_on_503(tokenizer: Any) -> None:
    state = FakeVllmState(sketch_responder(tokenizer), fail_first=2)
    with fake_vllm_server(state) as url:
        gen = OpenAICompatGenerator(url, "m", tokenizer, max_retries=3)
        out = await gen.generate(
            [1],
            SamplingParams(),
            [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("</sketch>")],
        )
        await gen.close()
    assert len(state.requests) == 3 and out.finish_reason == "stop"


async def test_concurrency_limit(tokenizer: Any) -> None:
    state = FakeVllmState(sketch_responder(tokenizer), delay=0.1)
    with fake_vllm_server(state) as url:
        gen = OpenAICompatGenerator(url, "m", tokenizer, max_concurrency=3, max_retries=0)
        stops = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("</sketch>")]
        await asyncio.gather(*(gen.generate([i], SamplingParams(), stops) for i in range(10)))
        await gen.close()
    assert len(state.requests) == 10 and state.max_in_flight == 3


@pytest.mark.parametrize("path", ["/chunked", "/declared"])
async def test_an_endless_model_answer_is_an_outage_not_an_oom(tokenizer: Any, path: str) -> None:
    from stepprover.errors import ModelBackendUnavailable
    from stepprover.models.bounded_http import DEFAULT_MAX_RESPONSE_BYTES

    async with endless_http_server() as (url, sent):
        gen = OpenAICompatGenerator(url + path + "/v1", "m", tokenizer, max_retries=0)
        try:
            with pytest.raises(ModelBackendUnavailable) as raised:
                await gen.generate([1], SamplingParams(), [tokenizer.eos_token_id])
        finally:
            await gen.close()
    assert sent["bytes"] < DEFAULT_MAX_RESPONSE_BYTES + 64 * 2**20  # it stopped reading
    causes, cause = [], raised.value.__cause__
    while cause is not None:
        causes.append(str(cause))
        cause = cause.__cause__
    assert any(f"answered a body over {DEFAULT_MAX_RESPONSE_BYTES} bytes" in c for c in causes)
