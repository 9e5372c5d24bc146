"""What became of one REPL command: the single type that carries it from the pool
through the service, its client, Ray and the agent loop, unchanged (it is JSON on
every wire).

- ``ok``: Lean answered (``reply``, the REPL's raw JSON; Lean's errors are data in it);
- ``timeout``: no reply within the wall-clock limit (the worker was killed);
- ``crash``: the worker died on this command (exited, memory cap, garbage output);
  the command's own fault, since the pool ran it on a fresh, warm worker;
- ``refused``: the command never ran because its import block was refused: Lean
  answered the imports with an error (an unknown module), or they name no plain
  module (a path outside the search path, refused before any REPL starts). The
  command's own fault: another try gets the same answer;
- ``infrastructure``: no worker could be got or reached: the REPL did not start or
  warm up, the pool was closed, the service could not be reached (transport
  error, or 5xx after the client's retries), or the worker was lost to something
  else than the command: it exited between requests before reading this one, or was
  killed from outside (SIGKILL, SIGTERM... that stepprover did not send). Never the
  proof's fault.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, computed_field

from stepprover.errors import PoolClosed, ReplCrashed, ReplError, ReplStartError, ReplTimeout
from stepprover.lean.protocol import Reply, reply_from_json


class CommandStatus(StrEnum):
    OK = "ok"
    TIMEOUT = "timeout"
    CRASH = "crash"
    REFUSED = "refused"
    INFRASTRUCTURE = "infrastructure"


class CommandOutcome(BaseModel):
    """One REPL command's outcome with its details (see the module docstring)."""

    model_config = ConfigDict(frozen=True)

    status: CommandStatus
    reply: dict[str, Any] | None = None
    """``ok``: the REPL's raw JSON reply, in Lean's key order."""
    error: str = ""
    """Not ``ok``: what went wrong, one line (e.g. the memory-cap message)."""
    stderr_tail: str = ""
    """Not ``ok``: the last lines the REPL wrote to stderr."""
    elapsed: float = 0.0
    """Seconds; for a timeout, the REPL's own measure of how long it was waited for."""
    exited: bool = False
    """``crash``: the REPL exited (its first stderr line is the report), not a memory kill."""
    warmup_timed_out: bool = False
    """``infrastructure``: the REPL gave no answer to its imports within the pool's
    warm-up timeout (``PoolConfig.warmup_timeout``)."""

    @property
    def ok(self) -> bool:
        return self.status is CommandStatus.OK

    @computed_field  # type: ignore[prop-decorator]
    @property
    def imports_refused(self) -> bool:
        """The status is ``refused`` (the import block's fault). Written on the wire for
        clients that read this flag (before ``refused`` was a status); ignored when read."""
        return self.status is CommandStatus.REFUSED

    @property
    def parsed(self) -> Reply:
        """The typed reply of an ``ok`` outcome."""
        if self.reply is None:
            raise ValueError(f"a {self.status} outcome has no reply")
        return reply_from_json(self.reply)

    @property
    def first_stderr_line(self) -> str:
        """The first stderr line with its newline, as the reference demo reports a crash."""
        lines = self.stderr_tail.splitlines(keepends=True)
        return lines[0] if lines else ""

    @property
    def detail(self) -> str:
        """``error`` with the stderr tail, for reports."""
        if not self.stderr_tail:
            return self.error
        return f"{self.error}\n--- REPL stderr (tail) ---\n{self.stderr_tail}"

    @classmethod
    def infrastructure(cls, error: str, *, elapsed: float = 0.0) -> CommandOutcome:
        return cls(status=CommandStatus.INFRASTRUCTURE, error=error, elapsed=elapsed)

    @classmethod
    async def of(cls, call: Awaitable[Reply]) -> CommandOutcome:
        """Await ``call`` (e.g. ``ReplPool.run(...)``) and describe what became of it: the
        one place where the pool's exceptions become outcomes. ``PoolBusy`` (back-pressure)
        is raised, not described: the caller retries or refuses."""
        started = time.monotonic()
        try:
            reply = await call
        except ReplTimeout as exc:
            return cls(
                status=CommandStatus.TIMEOUT,
                error=exc.summary,
                stderr_tail=exc.stderr_tail,
                elapsed=exc.elapsed,
            )
        except ReplStartError as exc:
            status = CommandStatus.REFUSED if exc.refused else CommandStatus.INFRASTRUCTURE
            return cls(
                status=status,
                error=exc.summary,
                stderr_tail=exc.stderr_tail,
                warmup_timed_out=exc.timed_out,
                elapsed=time.monotonic() - started,
            )
        except PoolClosed as exc:
            return cls.infrastructure(str(exc), elapsed=time.monotonic() - started)
        except ReplError as exc:
            lost = isinstance(exc, ReplCrashed) and exc.infrastructure  # not the command's doing
            status = CommandStatus.INFRASTRUCTURE if lost else CommandStatus.CRASH
            return cls(
                status=status,
                error=exc.summary,
                stderr_tail=exc.stderr_tail,
                exited=isinstance(exc, ReplCrashed),
                elapsed=time.monotonic() - started,
            )
        return cls(status=CommandStatus.OK, reply=reply.raw, elapsed=time.monotonic() - started)
