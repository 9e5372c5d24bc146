"""The one interface the agent loop uses to sample from a model.

A backend continues a prompt given as *token ids* and returns the generated
token ids, so that the context the model sees is exactly what it generated
plus the tokenised tool feedback (no re-tokenisation drift).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, runtime_checkable

from stepprover.errors import ModelBackendUnavailable, Outage

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings; the defaults are StepFun-Prover's evaluation settings."""

    temperature: float = 0.999
    top_p: float = 0.95
    top_k: int = -1
    max_tokens: int = 16384
    seed: int | None = None

    def with_max_tokens(self, max_tokens: int) -> SamplingParams:
        return replace(self, max_tokens=max_tokens)


@dataclass(frozen=True)
class Generation:
    """One call's output."""

    token_ids: list[int]
    """Generated ids, the stop token included (as vLLM's ``include_stop_str_in_output``)."""
    finish_reason: FinishReason
    """"stop": a stop token ended it; "length": ``max_tokens`` did."""
    stop_token_id: int | None
    """Which stop token ended it (None when ``finish_reason`` is "length")."""
    elapsed: float = 0.0
    logprobs: list[float | None] | None = None
    """The sampling log-probability of each generated id, where the backend reports it
    (vLLM during training, for TRL's importance-sampling correction)."""


@runtime_checkable
class Tokenizer(Protocol):
    """What the loop needs of a tokenizer (a Hugging Face tokenizer has all of it)."""

    eos_token_id: Any

    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...

    def decode(self, token_ids: list[int], skip_special_tokens: bool = ...) -> str: ...

    def convert_tokens_to_ids(self, tokens: str) -> Any: ...

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any: ...


class Generator(Protocol):
    """A model backend. Many ``generate`` calls may be in flight at once."""

    tokenizer: Tokenizer

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams, stop_token_ids: list[int]
    ) -> Generation: ...

    async def close(self) -> None: ...


async def generate_or_outage(
    generator: Generator, prompt_ids: list[int], params: SamplingParams, stop_token_ids: list[int]
) -> Generation:
    """``generator.generate``, where any failure is an outage (``ModelBackendUnavailable``
    with the backend's own error): a call that raised produced no text of the model, so
    nothing about the sample can be judged from it."""
    try:
        return await generator.generate(prompt_ids, params, stop_token_ids)
    except Outage:
        raise
    except Exception as exc:  # whatever failed, the model answered nothing
        endpoint = (
            getattr(generator, "endpoint", None) or f"model backend {type(generator).__name__}"
        )
        raise ModelBackendUnavailable(endpoint, f"{type(exc).__name__}: {exc}") from exc


def generated_text(tokenizer: Tokenizer, token_ids: list[int]) -> str:
    """The text of generated ids with every special token kept (so ``</sketch>`` shows even
    where the tokenizer marks it special) and a final EOS dropped; the loop's default. The
    reference demo's text is ``vllm_text``."""
    eos = int(tokenizer.eos_token_id)
    ids = token_ids[:-1] if token_ids and token_ids[-1] == eos else token_ids
    return tokenizer.decode(ids, skip_special_tokens=False)


def vllm_text(
    tokenizer: Tokenizer, token_ids: Sequence[int], prompt_ids: Sequence[int] = ()
) -> str:
    """The text vLLM returns for generated ids with its default ``skip_special_tokens=True``
    (what the reference demo builds its context from): special tokens dropped, and an
    incomplete UTF-8 character at the end never emitted.

    Mirrors vLLM's ``FastIncrementalDetokenizer`` (tokenizers' ``DecodeStream``, primed
    with a short decodable suffix of the prompt); a tokenizer without a Rust backend
    falls back to ``decode``.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return tokenizer.decode(list(token_ids), skip_special_tokens=True)
    from tokenizers.decoders import DecodeStream

    stream = DecodeStream(skip_special_tokens=True)
    for token in _decodable_suffix(backend, list(prompt_ids)):
        stream.step(backend, token)
    pieces = (stream.step(backend, token) for token in token_ids)
    return "".join(piece for piece in pieces if piece is not None)


def _decodable_suffix(backend: Any, prompt_ids: list[int]) -> list[int]:
    """vLLM's choice of prompt tokens to prime its detokenizer with: the shortest suffix
    of 4 to 23 tokens that decodes without a replacement character."""
    if len(prompt_ids) <= 4:
        return prompt_ids
    for n in range(4, min(len(prompt_ids) + 1, 24)):
        suffix = prompt_ids[-n:]
        if "\ufffd" not in backend.decode(suffix):
            return suffix
    return prompt_ids


def finish_for(token_ids: list[int], stop_token_ids: list[int]) -> tuple[FinishReason, int | None]:
    """Finish reason of a generation that ends at a stop token or ran out of tokens."""
    if token_ids and token_ids[-1] in stop_token_ids:
        return "stop", token_ids[-1]
    return "length", None
