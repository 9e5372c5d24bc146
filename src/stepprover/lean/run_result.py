"""One REPL command's outcome as data, to cross a network or process boundary and come
back as the same reply or the same exception the local pool would have raised."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any, Literal

from pydantic import BaseModel

from stepprover.errors import ReplCrashed, ReplError, ReplStartError, ReplTimeout
from stepprover.lean.protocol import Reply, reply_from_json


class RunResult(BaseModel):
    status: Literal["ok", "timeout", "crash"]
    reply: dict[str, Any] | None = None
    error: str | None = None
    elapsed: float = 0.0
    first_stderr_line: str = ""
    exited: bool = False
    """The crash was the REPL exiting (its first stderr line is the report), not e.g. a memory kill."""

    @classmethod
    async def of(cls, call: Awaitable[Reply]) -> RunResult:
        started = time.monotonic()
        try:
            reply = await call
        except ReplStartError as exc:
            if not exc.refused:
                raise  # no worker could be started: an outage (the service answers 5xx), not a reply
            return cls(status="crash", error=exc.summary, elapsed=time.monotonic() - started)
        except ReplTimeout as exc:
            return cls(status="timeout", elapsed=exc.elapsed)
        except ReplCrashed as exc:
            return cls(status="crash", error=exc.summary, first_stderr_line=exc.first_stderr_line,
                       exited=True, elapsed=time.monotonic() - started)
        except ReplError as exc:
            return cls(status="crash", error=exc.summary, elapsed=time.monotonic() - started)
        return cls(status="ok", reply=reply.raw, elapsed=time.monotonic() - started)

    def reply_or_raise(self, timeout: float) -> Reply:
        """The reply, or the exception the local pool raised for it."""
        if self.status == "timeout":
            raise ReplTimeout(timeout=timeout, elapsed=self.elapsed)
        if self.status == "crash":
            if self.exited:
                raise ReplCrashed(returncode=None, stderr_tail=self.first_stderr_line)
            raise ReplError(self.error or "REPL failed")
        assert self.reply is not None
        return reply_from_json(self.reply)
