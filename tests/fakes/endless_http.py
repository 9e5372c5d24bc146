"""A hostile HTTP server on 127.0.0.1 (a test program): every answer is a 200 whose JSON body
never ends: chunked, or (a request path holding "declared") one that declares 10 GB. It
stops sending once the client goes away, and counts what it sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

_CHUNK = b"x" * 65536


@asynccontextmanager
async def endless_http_server() -> AsyncIterator[tuple[str, dict[str, int]]]:
    """``(url, sent)``: the server's base URL and ``sent["bytes"]``, what it has sent."""
    sent = {"bytes": 0}

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            declared = b"declared" in request.split(b"\r\n")[0]
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            if declared:
                writer.write(head + b'Content-Length: 10000000000\r\n\r\n{"a": "')
            else:
                writer.write(head + b'Transfer-Encoding: chunked\r\n\r\n7\r\n{"a": "\r\n')
            while True:
                writer.write(_CHUNK if declared else b"%x\r\n%s\r\n" % (len(_CHUNK), _CHUNK))
                await writer.drain()
                sent["bytes"] += len(_CHUNK)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", sent
    finally:
        server.close()
