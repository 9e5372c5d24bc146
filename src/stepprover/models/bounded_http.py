"""HTTP responses read against a limit: a server (broken, or hostile) that sends an endless
or oversized body ends the request with a ``RemoteProtocolError`` ("... answered a body over
N bytes") instead of filling memory. Used by the clients of the verification service (httpx)
and of OpenAI-compatible model servers (the openai client's httpx2, the same API)."""

from __future__ import annotations

import functools
import importlib
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import Any

import httpx

DEFAULT_MAX_RESPONSE_BYTES = 256 * 2**20
"""Far above any honest answer (a batch of verdicts, or of completions with token ids)."""


def bounded_transport(
    inner: Any, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES, http: ModuleType = httpx
) -> Any:
    """``inner`` (an ``http.AsyncBaseTransport``) with every response body cut off, as an
    ``http.RemoteProtocolError`` (retried by the clients, then an outage), past ``max_bytes``.
    ``http``: the HTTP library the client is built on (httpx, or openai's httpx2)."""
    return _classes(http)[0](inner, max_bytes)


def bounded_sync_transport(
    inner: Any, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES, http: ModuleType = httpx
) -> Any:
    """``bounded_transport`` for a synchronous client (``http.BaseTransport``)."""
    return _classes(http)[1](inner, max_bytes)


def http_module_of(client_class: type) -> ModuleType:
    """The HTTP library (httpx, httpx2...) whose ``AsyncClient`` ``client_class`` is."""
    base = next(c for c in client_class.__mro__ if c.__name__ == "AsyncClient")
    return importlib.import_module(base.__module__.split(".")[0])


@functools.cache
def _classes(http: ModuleType) -> Any:
    class Capped(http.AsyncByteStream):  # type: ignore[misc,name-defined]
        def __init__(self, stream: Any, limit: int, message: str, request: Any) -> None:
            self.stream, self.limit, self.message, self.request = stream, limit, message, request

        async def __aiter__(self) -> AsyncIterator[bytes]:
            seen = 0
            async for chunk in self.stream:
                seen += len(chunk)
                if seen > self.limit:
                    raise http.RemoteProtocolError(self.message, request=self.request)
                yield chunk

        async def aclose(self) -> None:
            await self.stream.aclose()

    class Bounded(http.AsyncBaseTransport):  # type: ignore[misc,name-defined]
        def __init__(self, inner: Any, max_bytes: int) -> None:
            self.inner, self.max_bytes = inner, max_bytes

        async def handle_async_request(self, request: Any) -> Any:
            response = await self.inner.handle_async_request(request)
            over = f"{request.url} answered a body over {self.max_bytes} bytes"
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                await response.aclose()
                raise http.RemoteProtocolError(over, request=request)
            return http.Response(
                response.status_code,
                headers=response.headers,
                stream=Capped(response.stream, self.max_bytes, over, request),
                extensions=response.extensions,
                request=request,
            )

        async def aclose(self) -> None:
            await self.inner.aclose()

    class SyncCapped(http.SyncByteStream):  # type: ignore[misc,name-defined]
        def __init__(self, stream: Any, limit: int, message: str, request: Any) -> None:
            self.stream, self.limit, self.message, self.request = stream, limit, message, request

        def __iter__(self) -> Iterator[bytes]:
            seen = 0
            for chunk in self.stream:
                seen += len(chunk)
                if seen > self.limit:
                    raise http.RemoteProtocolError(self.message, request=self.request)
                yield chunk

        def close(self) -> None:
            self.stream.close()

    class SyncBounded(http.BaseTransport):  # type: ignore[misc,name-defined]
        def __init__(self, inner: Any, max_bytes: int) -> None:
            self.inner, self.max_bytes = inner, max_bytes

        def handle_request(self, request: Any) -> Any:
            response = self.inner.handle_request(request)
            over = f"{request.url} answered a body over {self.max_bytes} bytes"
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                response.close()
                raise http.RemoteProtocolError(over, request=request)
            return http.Response(
                response.status_code,
                headers=response.headers,
                stream=SyncCapped(response.stream, self.max_bytes, over, request),
                extensions=response.extensions,
                request=request,
            )

        def close(self) -> None:
            self.inner.close()

    return Bounded, SyncBounded
