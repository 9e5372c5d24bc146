"""Waiting for progress that no event announces: a file another process writes, the state a
pool or a server reports when asked. Asked again every few milliseconds, up to a generous
bound that only guards against a hang (never a timing assertion)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

PROGRESS_WAIT = 90.0

_T = TypeVar("_T")


async def until(condition: Callable[[], Awaitable[_T] | _T], what: str) -> _T:
    """The first true value of ``condition()`` (awaited if it is a coroutine)."""
    deadline = time.monotonic() + PROGRESS_WAIT
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.01)
