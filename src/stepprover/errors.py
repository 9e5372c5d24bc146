"""Every exception stepprover raises, in one tree.

Lean rejecting a proof is *data* (a reply with error messages, a ``Verdict``), and so is
what became of one REPL command (``lean.outcome.CommandOutcome``); an exception means
the machinery around Lean, or the input given to stepprover, failed. Nothing raises the
base class itself::

    StepproverError
    ├── ReplError                 a REPL process could not answer (the process is gone)
    │   ├── ReplStartError        it did not start or warm up
    │   ├── ReplTimeout           no reply within the wall-clock limit (process killed)
    │   ├── ReplCrashed           it exited or closed its output (mid-request, or between requests)
    │   ├── ReplMemoryExceeded    its process tree passed the RSS cap (process killed)
    │   └── ReplProtocolError     it printed something that is not a reply
    ├── PoolError                 the worker pool cannot take the request
    │   ├── PoolClosed            the pool was shut down
    │   └── PoolBusy              the wait queue is full (back-pressure)
    ├── Outage                    a service a sample needs failed after its retries: no result
    │   ├── ModelBackendUnavailable  the model server (connection refused, 429/5xx after retries)
    │   └── LeanUnavailable       no worker could be got or reached: an outage, never a verdict
    │       └── RemoteUnreachable  unreachable after every retry (also a RemoteError)
    ├── RemoteError               the verification service refused the request (4xx)
    ├── RayUnavailable            Ray is missing, not connected, or the cluster has no node
    ├── LeanBackendError          a Lean backend described without a place to run Lean
    ├── SetupError                a Lean setup step failed or cannot run here
    ├── GoldUnavailable           comparator or a tool it needs is not installed
    ├── SandboxUnavailable        bubblewrap, prlimit or setpriv is missing
    ├── DataError                 a problem file is missing or malformed
    ├── ModelUnavailable          the model, or the hardware it needs, is not on this machine
    ├── ModelServerUnsupported    a model server cannot do what the run needs
    │   └── ModelAnswerMalformed  it answered something that is not a completion
    ├── RunConfigMismatch         a run folder holds a run made with another configuration
    ├── RunNotFound               a folder holds no run
    ├── RunDamaged                a run.sqlite that is not a readable run database
    ├── DiskFull                  a database could not be written: its file system is full
    ├── TrainConfigError          a training config that cannot run (also a ValueError)
    │   └── NoTrainingData        its data sources gave no examples or problems
    ├── BatchTooLarge             a batch larger than the service's queue can ever hold
    ├── RunStopped                an eval stopped after too many outages in a row
    ├── RunIncomplete             an eval ended with samples retryable or not run
    ├── RunsNotComparable         two runs cover different problems, or one is incomplete
    └── LexingStopped             internal: the lexer stops at an error or limit (never escapes)

``outage_of(exc)`` says whether an exception is an outage (no verdict exists for the
sample, so evaluation stores it as retryable, never as a result).
"""

from __future__ import annotations

import signal


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
    """The REPL could not be spawned, did not finish its warm-up command, or exited on its
    own before its first answer.

    Attributes:
        refused: the imports were refused: Lean answered the warm-up with an error, or they
            name no plain module; the imports themselves are at fault, not the machinery.
        timed_out: the warm-up gave no reply within the pool's warm-up timeout
            (another try would only wait as long again).
    """

    def __init__(
        self, message: str, *, refused: bool = False, timed_out: bool = False, stderr_tail: str = ""
    ) -> None:
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
    """The process exited (or closed stdout) before a complete reply.

    Attributes:
        returncode: the exit status (negative: killed by that signal), ``None`` if unknown.
        between_requests: the process was gone before it read any of this request (it
            exited while idle), so the request is not at fault and may be sent again.
    """

    OUTSIDE_SIGNALS = frozenset(
        {signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT}
    )
    """Signals Lean never sends itself: a process ended by one (and not by stepprover,
    which records its own kills first) was killed from outside (an operator, the OOM killer)."""

    def __init__(
        self, *, returncode: int | None, stderr_tail: str = "", between_requests: bool = False
    ) -> None:
        self.returncode = returncode
        self.between_requests = between_requests
        if between_requests:
            message = (
                f"REPL exited between requests (return code {returncode}), before reading this one"
            )
        elif self.killed_from_outside:
            name = signal.Signals(-returncode).name  # type: ignore[operator]
            message = (
                f"REPL was killed from outside by {name} mid-request (return code {returncode})"
            )
        else:
            message = f"REPL exited mid-request (return code {returncode})"
        super().__init__(message, stderr_tail=stderr_tail)

    @property
    def killed_from_outside(self) -> bool:
        """Ended by a signal that only something outside Lean and stepprover sends."""
        rc = self.returncode
        return rc is not None and rc < 0 and -rc in self.OUTSIDE_SIGNALS

    @property
    def infrastructure(self) -> bool:
        """Not the request's fault: the process died before reading it, or was killed from
        outside."""
        return self.between_requests or self.killed_from_outside

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


class Outage(StepproverError):
    """A service the sample needs failed after its own retries: the model answered
    nothing, or no Lean judged the proof. The sample has no result; retry it later.

    Attributes:
        endpoint: what failed ("model server URL", "verification service URL",
            "local REPL pool").
        cause: the last error, one line.
    """

    def __init__(self, endpoint: str, cause: str = "") -> None:
        # One argument (a message, no endpoint known) is accepted too.
        super().__init__(f"{endpoint}: {cause}" if cause else endpoint)
        self.endpoint = endpoint
        self.cause = cause


class ModelBackendUnavailable(Outage):
    """The model server refused the connection or answered 429/5xx after all retries."""


class LeanUnavailable(Outage):
    """No REPL worker could be got or reached (REPL start failure, pool closed, service
    unreachable): an infrastructure failure, never the proof's fault nor a verdict."""


class LexingStopped(StepproverError):
    """Internal to ``lean.lexer``: the scan ends here (a lexical error, an unterminated
    literal, a limit), recorded as a problem of the text; ``tokenize`` catches it."""


class RemoteError(StepproverError):
    """The verification service refused the request (4xx other than 429)."""


class RemoteUnreachable(RemoteError, LeanUnavailable):
    """The service stayed unreachable (transport errors, 429 or 5xx) after every retry."""


class RayUnavailable(StepproverError):
    """Ray is not installed, not connected to a cluster, or the cluster has no alive node."""


class LeanBackendError(StepproverError):
    """A Lean backend was described without a place to run Lean (no pool, no service)."""


class SetupError(StepproverError):
    """A setup step failed or cannot run here; the message says what to do."""


class SandboxUnavailable(StepproverError):
    """bubblewrap, prlimit or setpriv is missing; the message says how to install them."""


class DataError(StepproverError):
    """A problem file is missing or malformed; the message names the file and line."""


class ModelUnavailable(StepproverError):
    """The model or the hardware it needs is not on this machine; the message says how to get it."""


class RunConfigMismatch(StepproverError):
    """The run folder holds a run made with another configuration."""


class RunNotFound(StepproverError):
    """The folder holds no run (no run.sqlite, or no configuration in it)."""


class RunDamaged(StepproverError):
    """``run.sqlite`` is not a readable run database (not SQLite, cut off, a folder, or its
    configuration unreadable); the message says what to do."""


class DiskFull(StepproverError):
    """A database could not be written because its file system is full (what it holds is
    intact); the message says where, and what to free."""


class TrainConfigError(StepproverError, ValueError):
    """A training config that cannot run; the message names the file or the setting."""


class NoTrainingData(TrainConfigError):
    """The config's data sources gave no training examples or problems."""


class BatchTooLarge(StepproverError):
    """A batch has more items than the service can ever hold at once (answered 413, with
    the limit: retrying cannot help, splitting does)."""

    def __init__(self, *, items: int, limit: int) -> None:
        super().__init__(
            f"a batch of {items} items is larger than this service can ever hold ({limit}: "
            "max_queue + workers); split it into batches of at most that many"
        )
        self.items = items
        self.limit = limit


class GoldUnavailable(StepproverError):
    """A tool the gold check needs (comparator, lean4export, landrun, lake) is missing;
    the message names it and says how to install it."""


class ModelServerUnsupported(StepproverError):
    """An OpenAI-compatible server (or the tokenizer it serves) lacks what the run needs:
    e.g. training needs token-id prompts and per-token logprobs, which text mode has not."""


class ModelAnswerMalformed(ModelServerUnsupported):
    """The server answered 200 with something that is not a completion (an HTML page, no
    ``choices``, ``null`` text, token ids that are not ids of this tokenizer); the backend
    reports it as ``ModelBackendUnavailable`` (no text of the model)."""


class RunStopped(StepproverError):
    """An evaluation stopped after ``limit`` consecutive outages since the last sample
    that got a result; every finished sample is kept."""

    def __init__(self, last: Outage, limit: int) -> None:
        super().__init__(f"{limit} consecutive outages since the last result; last: {last}")
        self.last = last
        self.limit = limit


class RunIncomplete(StepproverError):
    """An evaluation ended with samples retryable after outages, or not run; its
    numbers are not results yet (rerun it to finish)."""


class RunsNotComparable(StepproverError):
    """Two runs cover different problems (and no intersection was asked for), or one of
    them is incomplete."""


def outage_of(exc: BaseException) -> Outage | None:
    """The outage ``exc`` stands for, or None when it is not one.

    A worker that could not start is an outage unless Lean itself refused the imports
    (then the statement is at fault); a closed pool is one too.
    """
    if isinstance(exc, Outage):
        return exc
    if isinstance(exc, ReplStartError) and not exc.refused:
        return LeanUnavailable("local REPL pool", f"no worker could be started: {exc.summary}")
    if isinstance(exc, PoolClosed):
        return LeanUnavailable("local REPL pool", str(exc))
    return None
