"""Exceptions for infrastructure failures.

Lean rejecting a proof is *data* (a reply with error messages, a `Verdict`);
an exception means the machinery around Lean failed::

    StepproverError
    └── ReplError                 a REPL process could not answer
        ├── ReplStartError        it did not start or warm up
        ├── ReplTimeout           no reply within the wall-clock limit (process killed)
        ├── ReplCrashed           it exited or closed its output mid-request
        ├── ReplMemoryExceeded    its process tree passed the RSS cap (process killed)
        └── ReplProtocolError     it printed something that is not a reply
    └── PoolError
        ├── PoolClosed            the pool was shut down
        └── PoolBusy              the wait queue is full (back-pressure)
"""

from __future__ import annotations


class StepproverError(Exception):
    """Base class of every exception raised by stepprover."""


class ReplError(StepproverError):
    """A REPL process failed to answer a request; the process is gone.

    Attributes:
        stderr_tail: the last lines the process wrote to stderr, for the report.
    """

    def __init__(self, message: str, *, stderr_tail: str = "") -> None:
        detail = f"{message}\n--- REPL stderr (tail) ---\n{stderr_tail}" if stderr_tail else message
        super().__init__(detail)
        self.summary = message
        """The message without the stderr tail."""
        self.stderr_tail = stderr_tail


class ReplStartError(ReplError):
    """The REPL could not be spawned or did not finish its warm-up command.

    Attributes:
        refused: Lean answered the warm-up (the imports) with an error, so the
            imports themselves are at fault, not the machinery.
        timed_out: the warm-up gave no reply within the pool's warm-up timeout
            (another try would only wait as long again).
    """

    def __init__(self, message: str, *, refused: bool = False, timed_out: bool = False,
                 stderr_tail: str = "") -> None:
        super().__init__(message, stderr_tail=stderr_tail)
        self.refused = refused
        self.timed_out = timed_out


class ReplTimeout(ReplError):
    """No complete reply arrived within the wall-clock limit."""

    def __init__(self, *, timeout: float, elapsed: float, stderr_tail: str = "") -> None:
        super().__init__(
            f"REPL gave no reply within {timeout:g} s (waited {elapsed:.2f} s); process killed. "
            "Raise the request timeout if the proof is just slow.",
            stderr_tail=stderr_tail,
        )
        self.timeout = timeout
        self.elapsed = elapsed


class ReplCrashed(ReplError):
    """The process exited (or closed stdout) before a complete reply."""

    def __init__(self, *, returncode: int | None, stderr_tail: str = "") -> None:
        super().__init__(
            f"REPL exited mid-request (return code {returncode})", stderr_tail=stderr_tail
        )
        self.returncode = returncode

    @property
    def first_stderr_line(self) -> str:
        """The first line of stderr with its newline, as the reference demo reports a crash."""
        lines = self.stderr_tail.splitlines(keepends=True)
        return lines[0] if lines else ""


class ReplMemoryExceeded(ReplError):
    """The RSS of the process tree passed the cap; the process group was killed."""

    def __init__(self, *, rss_mb: float, limit_mb: float, stderr_tail: str = "") -> None:
        super().__init__(
            f"Memory usage ({rss_mb:.2f}MB) exceeded limit ({limit_mb:.0f}MB)",
            stderr_tail=stderr_tail,
        )
        self.rss_mb = rss_mb
        self.limit_mb = limit_mb


class ReplProtocolError(ReplError):
    """The process wrote output that is not a REPL reply (garbage, bad UTF-8, too large)."""

    def __init__(self, reason: str, *, excerpt: str = "", stderr_tail: str = "") -> None:
        text = f"REPL protocol error: {reason}"
        if excerpt:
            text += f"; output began with {excerpt[:200]!r}"
        super().__init__(text, stderr_tail=stderr_tail)
        self.reason = reason


class PoolError(StepproverError):
    """The worker pool cannot take the request."""


class PoolClosed(PoolError):
    """The pool has been shut down."""


class PoolBusy(PoolError):
    """The pool's wait queue is full; retry later (the service answers 429)."""

    def __init__(self, *, queued: int, max_queue: int) -> None:
        super().__init__(
            f"pool queue full ({queued} waiting, max_queue={max_queue}); retry later "
            "or raise PoolConfig.max_queue"
        )
        self.queued = queued
        self.max_queue = max_queue
