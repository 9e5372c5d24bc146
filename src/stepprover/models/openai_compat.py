"""Any OpenAI-compatible completions server: ``vllm serve`` and SGLang with token-id
prompts, or (text mode) any server that takes a text prompt and stop strings
(llama.cpp, TGI, Ollama, hosted APIs, ``transformers serve``)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Sized
from typing import Any, Literal

import openai
from openai import omit

from stepprover.errors import (
    ModelAnswerMalformed,
    ModelBackendUnavailable,
    ModelServerUnsupported,
)
from stepprover.models.base import Generation, SamplingParams, Tokenizer, finish_for

PromptMode = Literal["auto", "token_ids", "text"]

_REFUSALS = (openai.BadRequestError, openai.UnprocessableEntityError)
"""What a server that takes only text prompts answers a token-id prompt with (400, 422)."""


def _connection_limits(http: Any) -> Any:
    """openai's own DEFAULT_CONNECTION_LIMITS, in the HTTP library it is built on."""
    return http.Limits(max_connections=1000, max_keepalive_connections=100)


class OpenAICompatGenerator:
    """Calls ``/v1/completions``.

    ``token_ids`` mode: the prompt as token ids with vLLM's extra parameters
    (``stop_token_ids``, ``top_k``, ``return_token_ids``); when the server returns no
    token ids, the text is tokenised locally. ``text`` mode: the prompt decoded to text,
    only standard parameters, ``</sketch>`` as a stop string, the answer tokenised
    locally. ``auto`` (default) uses token ids and switches to text for the whole run
    when the server refuses the first token-id prompt (400 or 422) and takes the same
    call as text.

    Text mode cannot report per-token logprobs of the model's own tokens, so it is
    refused with ``logprobs=True`` (training), and it needs a tokenizer whose
    ``</sketch>`` is not a special token (servers drop special tokens from their text;
    released StepFun-Prover checkpoints have the tags as ordinary added tokens).
    """

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
        prompt_mode: PromptMode = "auto",
    ) -> None:
        from openai import AsyncOpenAI, DefaultAsyncHttpxClient

        from stepprover.models.bounded_http import bounded_transport, http_module_of

        http = http_module_of(DefaultAsyncHttpxClient)  # openai's own httpx (httpx2 today)

        self.tokenizer = tokenizer
        self.model = model
        self.logprobs = logprobs
        """Ask for each sampled token's log-probability (needs the server's token ids)."""
        self.prompt_mode: PromptMode = prompt_mode
        """The mode in use; "auto" until the first call settles it."""
        if prompt_mode == "text":
            self._check_text_mode([])
        self.client = AsyncOpenAI(
            base_url=base_url, api_key=api_key, max_retries=max_retries, timeout=timeout,
            http_client=DefaultAsyncHttpxClient(transport=bounded_transport(
                http.AsyncHTTPTransport(limits=_connection_limits(http)), http=http
            )),  # every answer read against a limit (openai's own connection limits kept)
        )  # fmt: skip
        self._slots = asyncio.Semaphore(max_concurrency)
        self._probe = asyncio.Lock()

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams, stop_token_ids: list[int]
    ) -> Generation:
        """Raises ``ModelBackendUnavailable``, naming the server's own error, when the server
        stays unreachable or answers 429/5xx after ``max_retries`` retries (the openai
        client's backoff), refuses the request (any other 4xx), or answers with something
        that is not a completion: none of these is the model's text."""
        try:
            return await self._generate(prompt_ids, params, stop_token_ids)
        except (openai.APIError, ModelAnswerMalformed) as exc:
            raise ModelBackendUnavailable(self.endpoint, server_error(exc)) from exc

    @property
    def endpoint(self) -> str:
        return f"model server {str(self.client.base_url).rstrip('/')}"

    async def _generate(
        self, prompt_ids: list[int], params: SamplingParams, stop_token_ids: list[int]
    ) -> Generation:
        started = time.monotonic()
        if self.prompt_mode == "auto":
            async with self._probe:  # the first call settles the mode; the others wait for it
                if self.prompt_mode == "auto":
                    ids, finish, stop_id, logprobs = await self._settle_mode(
                        prompt_ids, params, stop_token_ids
                    )
                    return Generation(ids, finish, stop_id, time.monotonic() - started, logprobs)
        if self.prompt_mode == "text":
            ids, finish, stop_id = await self._text_call(prompt_ids, params, stop_token_ids)
            return Generation(ids, finish, stop_id, time.monotonic() - started)
        ids, finish, stop_id, logprobs = await self._token_id_call(
            prompt_ids, params, stop_token_ids
        )
        return Generation(ids, finish, stop_id, time.monotonic() - started, logprobs)

    async def _settle_mode(
        self, prompt_ids: list[int], params: SamplingParams, stop_token_ids: list[int]
    ) -> tuple[list[int], Any, int | None, list[float | None] | None]:
        try:
            result = await self._token_id_call(prompt_ids, params, stop_token_ids)
        except _REFUSALS as refusal:
            try:
                self._check_text_mode(stop_token_ids)
            except ModelServerUnsupported as why_not:
                # The refusal may be of anything in the request (a bad temperature, a model
                # name it does not serve): its own words come first.
                raise ModelBackendUnavailable(
                    self.endpoint,
                    f"{server_error(refusal)} (if it takes only text prompts, "
                    f"text mode cannot serve this run: {why_not})",
                ) from refusal
            try:
                text_result = await self._text_call(prompt_ids, params, stop_token_ids)
            except _REFUSALS:
                raise refusal from None  # not a text-only server: its first answer stands
            self.prompt_mode = "text"
            print(
                f"the server at {self.client.base_url} refused a token-id prompt "
                f"({type(refusal).__name__}); sending text prompts (text mode)",
                file=sys.stderr,
            )
            return (*text_result, None)
        self.prompt_mode = "token_ids"
        return result

    def _check_text_mode(self, stop_token_ids: list[int]) -> None:
        if self.logprobs:
            raise ModelServerUnsupported(
                "training needs the sampled tokens' ids and logprobs, which text mode cannot give"
                "; serve the policy with vLLM (`trl vllm-serve` or `vllm serve`)"
            )
        eos = int(self.tokenizer.eos_token_id)
        dropped = [self.tokenizer.decode([t], skip_special_tokens=False) for t in stop_token_ids
                   if t != eos
                   and not self.tokenizer.decode([t], skip_special_tokens=True)]  # fmt: skip
        if dropped:
            raise ModelServerUnsupported(
                f"text mode needs {', '.join(dropped)} as ordinary tokens, but this tokenizer "
                "marks them special, so the server's text would drop them; use a server that "
                "takes token ids"
            )

    async def _token_id_call(
        self, prompt_ids: list[int], params: SamplingParams, stop_token_ids: list[int]
    ) -> tuple[list[int], Any, int | None, list[float | None] | None]:
        async with self._slots:
            response = await self.client.completions.create(
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
        choice = _first_choice(response)
        ids = self._token_ids(choice, stop_token_ids)
        finish, stop_id = finish_for(ids, stop_token_ids)
        logprobs = self._logprobs(choice, len(ids)) if self.logprobs else None
        return ids, finish, stop_id, logprobs

    async def _text_call(
        self, prompt_ids: list[int], params: SamplingParams, stop_token_ids: list[int]
    ) -> tuple[list[int], Any, int | None]:
        if params.top_k > 0:
            raise ModelServerUnsupported(
                f"text mode sends only standard parameters; top_k={params.top_k} "
                "cannot be passed (leave it at -1)"
            )
        self._check_text_mode(stop_token_ids)
        eos = int(self.tokenizer.eos_token_id)
        stops = [
            self.tokenizer.decode([t], skip_special_tokens=False)
            for t in stop_token_ids
            if t != eos
        ]
        async with self._slots:
            response = await self.client.completions.create(
                model=self.model,
                prompt=self.tokenizer.decode(prompt_ids, skip_special_tokens=False),
                max_tokens=params.max_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                seed=params.seed,
                stop=stops or omit,
            )
        choice = _first_choice(response)
        text = _text_of(choice)
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        if choice.finish_reason != "stop":
            return ids, "length", None
        stop_id = self._text_stop(text, choice, stop_token_ids, eos)
        if not (
            ids and ids[-1] == stop_id
        ):  # the server left the stop string (or EOS) out of its text
            ids.append(stop_id)
        return ids, "stop", stop_id

    def _text_stop(self, text: str, choice: Any, stop_token_ids: list[int], eos: int) -> int:
        """Which stop ended a text-mode call. The server's ``stop_reason`` (vLLM) or
        ``stopping_word`` (llama.cpp) when given; else ``</sketch>`` if the text ends with it
        (servers that keep the stop string) or holds an unclosed ``<sketch>`` (servers that
        cut it), and EOS otherwise."""
        close = next((t for t in stop_token_ids if t != eos), None)
        if close is None:
            return eos
        close_text = self.tokenizer.decode([close], skip_special_tokens=False)  # "</sketch>"
        open_text = "<" + close_text.removeprefix("</")  # "<sketch>"
        extra = choice.model_extra or {}
        for key in ("stop_reason", "stopping_word"):
            said = extra.get(key)
            if isinstance(said, int):
                return said
            if isinstance(said, str) and said:
                return close if said == close_text else eos
        if text.endswith(close_text) or text.rfind(open_text) > text.rfind(close_text):
            return close
        return eos

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
            return self._checked_ids(extra["token_ids"])
        ids = self.tokenizer.encode(_text_of(choice), add_special_tokens=False)
        if choice.finish_reason == "stop" and not (ids and ids[-1] in stop_token_ids):
            # vLLM reports the stop token in stop_reason (None for EOS) but may omit its text.
            stop = extra.get("stop_reason")
            ids.append(int(stop) if isinstance(stop, int) else int(self.tokenizer.eos_token_id))
        return ids

    def _checked_ids(self, ids: Any) -> list[int]:
        """The server's token ids, each an integer id of this tokenizer (a NaN, a float, a
        negative or out-of-range id is a server at fault, not text of the model)."""
        size = len(self.tokenizer) if isinstance(self.tokenizer, Sized) else None
        if not isinstance(ids, list):
            raise ModelAnswerMalformed(f"token_ids is {type(ids).__name__}, not a list")
        for token in ids:
            if type(token) is not int or token < 0 or (size is not None and token >= size):
                limit = f" (the tokenizer has {size} ids)" if size is not None else ""
                raise ModelAnswerMalformed(f"token_ids holds {token!r}, not a token id{limit}")
        return list(ids)

    async def close(self) -> None:
        await self.client.close()


SHOWN_BODY_CHARS = 500
"""How much of a refusal's body an error message quotes (a server may answer a page)."""


def server_error(exc: Exception) -> str:
    """The server's own error, one line: the openai client's message and, when that leaves
    it out (it quotes only ``error.message``), the body it answered (FastAPI's ``detail``)."""
    text = f"{type(exc).__name__}: {exc}"
    body = getattr(exc, "body", None)
    if isinstance(exc, openai.APIStatusError) and body is not None:
        shown = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        if shown and shown not in text:
            text += f": {shown[:SHOWN_BODY_CHARS]}"
    return " ".join(text.split())


def _first_choice(response: Any) -> Any:
    """The completion's first choice; an answer that has none is not a completion."""
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list):
        shown = response if isinstance(response, str) else type(response).__name__
        raise ModelAnswerMalformed(f"the answer is not a completion: {str(shown)[:200]!r}")
    if not choices:
        raise ModelAnswerMalformed("the completion has no choices")
    if not hasattr(choices[0], "finish_reason"):
        raise ModelAnswerMalformed(f"the completion's choice is {choices[0]!r}, not an object")
    return choices[0]


def _text_of(choice: Any) -> str:
    text = getattr(choice, "text", None)
    if not isinstance(text, str):
        raise ModelAnswerMalformed(f"the completion's text is {text!r}, not a string")
    return text
