"""HTTP responses read against a limit: a server (broken, or hostile) that sends an endless
or oversized body ends the request with ``ResponseTooLarge`` instead of filling memory.
Used by the clients of the verification service and of OpenAI-compatible model servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

DEFAULT_MAX_RESPONSE_BYTES = 256 * 2**20
"""Far above any honest answer (a batch of verdicts, or of completions with token ids)."""


class ResponseTooLarge(httpx.RemoteProtocolError):
    """The response body passed the limit (a transport error: retried, then an outage)."""


class BoundedTransport(httpx.AsyncBaseTransport):
    """``inner`` with every response body cut off, as an error, past ``max_bytes``."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.max_bytes = max_bytes

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await response.aclose()
            raise ResponseTooLarge(self._over(request), request=request)
        assert isinstance(response.stream, httpx.AsyncByteStream)  # an async transport's
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_Capped(response.stream, self.max_bytes, self._over(request), request),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()

    def _over(self, request: httpx.Request) -> str:
        return f"{request.url} answered a body over {self.max_bytes} bytes"


class _Capped(httpx.AsyncByteStream):
    def __init__(
        self, stream: httpx.AsyncByteStream, limit: int, message: str, request: httpx.Request
    ) -> None:
        self.stream, self.limit, self.message, self.request = stream, limit, message, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self.stream:
            seen += len(chunk)
            if seen > self.limit:
                raise ResponseTooLarge(self.message, request=self.request)
            yield chunk

    async def aclose(self) -> None:
        await self.stream.aclose()
