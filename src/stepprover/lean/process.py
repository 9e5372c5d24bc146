"""One REPL process: spawn, send a request, read its reply, enforce limits, kill.

The process runs in its own process group (and session), so that killing it
also kills what it spawned (``lake env``/``lake exe repl`` run the REPL as a
child). On Linux it runs under ``lean/guard.py``, which kills the whole tree when
stepprover dies, whatever the signal (SIGKILL included). Each request has a wall-clock
timeout; while it runs, the RSS of the whole process tree is polled and the group is
killed when it passes the cap.
Any failure leaves the process dead: callers replace it, never reuse it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import fcntl
import os
import shlex
import shutil
import signal
import struct
import sys
import termios
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from stepprover.errors import (
    ReplCrashed,
    ReplError,
    ReplMemoryExceeded,
    ReplProtocolError,
    ReplStartError,
    ReplTimeout,
)
from stepprover.lean.protocol import (
    MESSAGE_END,
    CommandRequest,
    Reply,
    Request,
    encode_request,
    parse_reply,
)

_READ_CHUNK = 1 << 16
_STDERR_KEEP_BYTES = 64 * 1024
_TREE_RELIST_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1
_PIPE_CAPACITY = 65536
"""Linux's default pipe capacity: a request this small reaches an empty pipe in one write,
whole, or (no reader left) not at all."""
_GUARD = Path(__file__).with_name("guard.py")


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """In the child before exec: get ``sig`` if our process dies without closing it (Linux).

    The REPL runs in its own session, so nothing else would stop it if stepprover itself
    were killed with SIGKILL. The guard turns SIGTERM into killing every descendant."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig)


def _guard_dies_with_parent() -> None:
    """The guard gets SIGTERM, on which it kills every descendant of the REPL."""
    die_with_parent(signal.SIGTERM)


def _guarded(argv: list[str]) -> list[str]:
    """argv run under the guard where the platform has what it needs (Linux)."""
    if not sys.platform.startswith("linux"):
        return argv
    return [sys.executable, str(_GUARD), "--", *argv]


def check_executable(config: ProcessConfig) -> None:
    """Raise ``ReplStartError`` if ``config.argv[0]`` is not an executable program (as exec
    would fail; under the guard that failure would only show as a crashed first request)."""
    program = config.argv[0] if config.argv else ""
    path = (config.env or os.environ).get("PATH")
    if os.sep in program:
        found = Path(config.cwd or ".", program)
        ok = found.is_file() and os.access(found, os.X_OK)
    else:
        ok = bool(program) and shutil.which(program, path=path) is not None
    if not ok:
        raise ReplStartError(
            f"cannot start REPL {list(config.argv)!r}: {program!r} is not an executable"
        )


def descendant_pids(pid: int) -> list[int]:
    """Pids below ``pid``, read from each thread's ``/proc/PID/task/TID/children`` (Linux):
    it touches only the tree's own entries, where ``psutil.Process.children`` reads every
    process on the machine (milliseconds on a busy one). Falls back to psutil where the
    kernel has no children files."""
    found: list[int] = []
    stack = [pid]
    while stack:
        parent = stack.pop()
        try:
            threads = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue  # gone meanwhile
        for tid in threads:
            try:
                with open(f"/proc/{parent}/task/{tid}/children", "rb") as f:
                    children = [int(c) for c in f.read().split()]
            except FileNotFoundError:
                if not os.path.exists(f"/proc/{parent}/task/{tid}"):
                    continue  # the thread ended
                try:  # a kernel without the children files
                    return [p.pid for p in psutil.Process(pid).children(recursive=True)]
                except psutil.Error:
                    return found
            except OSError:
                continue
            found.extend(children)
            stack.extend(children)
    return found


def tree_rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` and all its descendants, in MB (0 if gone)."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for p in tree:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / (1024 * 1024)


def kill_tree(pid: int) -> None:
    """SIGKILL the process group led by ``pid`` and any descendant that left it (no reaping)."""
    try:
        stray = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        stray = []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for child in stray:
        with contextlib.suppress(psutil.Error):
            child.kill()


class _TreeMemory:
    """The summed RSS of a process tree, read after every request and while one runs: each
    process's ``/proc/PID/statm`` is held open (a reading is one pread per process, where
    psutil opens and parses a file each time), and the tree is listed again every
    ``_TREE_RELIST_SECONDS`` (listing costs more than reading). Without /proc: psutil."""

    _PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._statm: dict[int, int] = {}
        self._listed_at = -float("inf")
        self._proc_fs = os.path.isdir(f"/proc/{os.getpid()}")

    def rss_mb(self) -> float:
        if not self._proc_fs:
            return tree_rss_mb(self.pid)
        now = time.monotonic()
        # Listed again every _TREE_RELIST_SECONDS, and at every read while only the root is
        # known: a first listing made while the guard was still starting the REPL would
        # otherwise leave the REPL's memory unseen until the next listing.
        if self._listed_at == float("inf"):
            return 0.0  # closed
        if now - self._listed_at > _TREE_RELIST_SECONDS or len(self._statm) <= 1:
            self._relist()
            self._listed_at = now
        pages = 0
        for pid, fd in list(self._statm.items()):
            try:
                pages += int(os.pread(fd, 256, 0).split()[1])
            except (OSError, IndexError, ValueError):  # reaped (the pid may be reused): gone
                os.close(self._statm.pop(pid))
        return pages * self._PAGE / (1024 * 1024)

    def _relist(self) -> None:
        tree = {self.pid, *descendant_pids(self.pid)}
        for pid in self._statm.keys() - tree:
            os.close(self._statm.pop(pid))
        for pid in tree - self._statm.keys():
            with contextlib.suppress(OSError):  # gone meanwhile
                self._statm[pid] = os.open(f"/proc/{pid}/statm", os.O_RDONLY)

    def close(self) -> None:
        for fd in self._statm.values():
            os.close(fd)
        self._statm.clear()
        self._listed_at = float("inf")  # never listed again: a closed tree reads 0


@dataclass(frozen=True)
class ProcessConfig:
    """How to start one REPL process and the limits it runs under."""

    command: Sequence[str]
    """argv of the REPL, e.g. ``["lake", "env", "/opt/repl/.lake/build/bin/repl"]``."""
    cwd: Path | None = None
    env: Mapping[str, str] | None = None
    """Environment for the process; ``None`` inherits ours."""
    prefix: Sequence[str] = ()
    """Wrapper put before ``command``, e.g. a bubblewrap sandbox invocation."""
    max_rss_mb: float | None = None
    """Kill the process tree when its summed RSS passes this (polled during requests)."""
    rss_poll_interval: float = 0.1
    max_reply_bytes: int = 512 * 1024 * 1024
    """A reply larger than this is a protocol error (there is no line-length limit below it)."""

    @property
    def argv(self) -> list[str]:
        return [*self.prefix, *self.command]


@dataclass
class ProcessStats:
    requests: int = 0
    busy_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    started_at: float = field(default_factory=time.monotonic)


class ReplProcess:
    """A running REPL. Use ``await ReplProcess.spawn(config)``; always ``await close()``."""

    def __init__(self, config: ProcessConfig, proc: asyncio.subprocess.Process) -> None:
        self.config = config
        self._proc = proc
        self._buffer = bytearray()
        self._stderr: collections.deque[bytes] = collections.deque()
        self._stderr_size = 0
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        self._lock = asyncio.Lock()
        self._dead_reason: ReplError | None = None
        self._tree = _TreeMemory(proc.pid)
        # /proc/PID/stat held open: a liveness check is one pread (it fails once the process
        # is reaped, so a reused pid is never mistaken for it).
        self._stat_fd: int | None = None
        with contextlib.suppress(OSError):  # gone already, or no /proc: see ``alive``
            self._stat_fd = os.open(f"/proc/{proc.pid}/stat", os.O_RDONLY)
        self._memory_poll: asyncio.Handle | None = None
        self.stats = ProcessStats()
        # Our own handle on the stdin pipe, to ask how much of a request is still unread
        # after the REPL died (asyncio closes its end once it notices the reader is gone).
        self._stdin_probe: int | None = None
        with contextlib.suppress(
            AttributeError, OSError, ValueError
        ):  # already closed: dead at birth
            self._stdin_probe = os.dup(proc.stdin.get_extra_info("pipe").fileno())  # type: ignore[union-attr]
        self._request_refused = False

    @classmethod
    async def spawn(cls, config: ProcessConfig) -> ReplProcess:
        """Start the process in a new session (its own process group), under the guard."""
        check_executable(config)
        # Never cancelled halfway: asyncio's clean-up of a spawn cancelled before its pipes are
        # connected kills only the guard, then waits for pipes that the REPL's surviving
        # children hold, forever (Ctrl-C at that moment was lost). A cancelled spawn is let
        # finish (connecting pipes takes no time) and its whole process tree is stopped.
        spawning = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                *_guarded(list(config.argv)),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=config.cwd,
                env=dict(config.env) if config.env is not None else None,
                start_new_session=True,
                preexec_fn=_guard_dies_with_parent,
            )
        )
        try:
            proc = await asyncio.shield(spawning)
        except OSError as exc:
            raise ReplStartError(f"cannot start REPL {config.argv!r}: {exc}") from exc
        except asyncio.CancelledError:
            await asyncio.wait({spawning})
            if not spawning.cancelled() and spawning.exception() is None:
                await cls(config, spawning.result()).close()
            raise
        return cls(config, proc)

    # ------------------------------------------------------------------ state

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def alive(self) -> bool:
        """Not killed, and not exited (the OS is asked too: asyncio notices an exit late)."""
        if self._dead_reason is not None or self._proc.returncode is not None:
            return False
        if self._stat_fd is None:
            try:
                return bool(psutil.Process(self._proc.pid).status() != psutil.STATUS_ZOMBIE)
            except psutil.Error:
                return False
        try:
            stat = os.pread(self._stat_fd, 512, 0)
        except OSError:
            return False  # reaped
        return stat[stat.rindex(b")") + 2 :][:1] not in (b"Z", b"X")  # zombie, dead

    @property
    def stderr_tail(self) -> str:
        return b"".join(self._stderr).decode(errors="replace")

    def rss_mb(self) -> float:
        """Resident memory of the process and all its descendants, in MB."""
        return self._tree.rss_mb()

    # ------------------------------------------------------------------ requests

    async def send(self, request: Request, timeout: float) -> Reply:  # noqa: ASYNC109 - see SketchRepl
        """Send one request and return the parsed reply.

        Raises:
            ReplTimeout, ReplCrashed, ReplMemoryExceeded, ReplProtocolError: the
                process has been killed and must be replaced.
        """
        text = await self.send_raw(encode_request(request), timeout)
        try:
            return parse_reply(text)
        except ReplProtocolError as exc:
            raise await self._die(exc) from exc

    def _never_read(self, request_bytes: int) -> bool:
        """After end-of-file with no reply: did the REPL die before reading any of the request?
        Yes if the request still lies whole in the pipe, or if it could not be written (no
        reader was left) while small enough to have gone in one write."""
        if self._buffer or request_bytes <= 0:
            return False
        if self._request_refused:
            return request_bytes <= _PIPE_CAPACITY
        return request_bytes <= self._unread_input()

    async def send_raw(self, payload: bytes, timeout: float) -> str:  # noqa: ASYNC109 - see SketchRepl
        """Write framed bytes, return the next framed reply's text (without the blank line)."""
        async with self._lock:
            if not self.alive:
                raise self._dead_reason or ReplCrashed(
                    returncode=self._proc.returncode,
                    stderr_tail=self.stderr_tail,
                    between_requests=True,
                )
            started = time.monotonic()
            if self.config.max_rss_mb is not None:
                self._memory_poll = asyncio.get_running_loop().call_soon(self._poll_memory)
            try:
                async with asyncio.timeout(timeout):
                    await self._write(payload)
                    text = await self._read_message(len(payload))
            except TimeoutError:
                elapsed = time.monotonic() - started
                timed_out = ReplTimeout(
                    timeout=timeout, elapsed=elapsed, stderr_tail=self.stderr_tail
                )
                raise await self._die(timed_out) from None
            except ReplError as exc:
                # A memory kill shows up here as EOF; _die reports the cause, not the symptom.
                raise await self._die(exc) from None
            except asyncio.CancelledError:
                # The caller gave up mid-request: the reply would arrive out of turn, so kill.
                await self._die(ReplCrashed(returncode=None, stderr_tail="request cancelled"))
                raise
            finally:
                if self._memory_poll is not None:
                    self._memory_poll.cancel()
                    self._memory_poll = None
            self.stats.requests += 1
            self.stats.busy_seconds += time.monotonic() - started
            return text

    async def _write(self, payload: bytes) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            stdin.write(payload)
            # Closing already: the pipe had no reader left, so nothing was written.
            self._request_refused = stdin.transport.is_closing()
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            # Nobody reads the pipe any more: the REPL was gone before this request.
            await self._proc.wait()
            raise ReplCrashed(
                returncode=self._proc.returncode,
                stderr_tail=self.stderr_tail,
                between_requests=len(payload) <= _PIPE_CAPACITY,
            ) from exc

    def _unread_input(self) -> int:
        """Bytes written to the REPL's stdin that it has not read (Linux FIONREAD; 0 if unknown)."""
        if self._stdin_probe is None:
            return 0
        try:
            raw = fcntl.ioctl(self._stdin_probe, termios.FIONREAD, b"\0\0\0\0")
        except OSError:
            return 0
        return int(struct.unpack("i", raw)[0])

    async def _read_message(self, request_bytes: int = 0) -> str:
        stdout = self._proc.stdout
        assert stdout is not None
        scan_from = 0
        while True:
            end = self._buffer.find(MESSAGE_END, scan_from)
            if end >= 0:
                data = bytes(self._buffer[:end])
                del self._buffer[: end + len(MESSAGE_END)]
                return self._decode(data)
            if len(self._buffer) > self.config.max_reply_bytes:
                raise ReplProtocolError(
                    f"reply exceeds max_reply_bytes={self.config.max_reply_bytes}",
                    excerpt=self._buffer[:200].decode(errors="replace"),
                )
            scan_from = max(0, len(self._buffer) - 1)
            chunk = await stdout.read(_READ_CHUNK)
            if not chunk:
                never_read = self._never_read(request_bytes)
                await self._proc.wait()
                raise ReplCrashed(
                    returncode=self._proc.returncode,
                    stderr_tail=self.stderr_tail,
                    between_requests=never_read,
                )
            self._buffer += chunk

    @staticmethod
    def _decode(data: bytes) -> str:
        try:
            return data.decode("utf-8").strip("\n")
        except UnicodeDecodeError as exc:
            raise ReplProtocolError(
                "reply is not valid UTF-8", excerpt=data[:200].decode(errors="replace")
            ) from exc

    def _poll_memory(self) -> None:
        """While a request runs: read the tree's RSS now and every ``rss_poll_interval``
        seconds; past the cap, kill the tree (the request then reads end-of-file and reports
        this cause). A timer callback, not a task per request: a request costs one timer."""
        limit = self.config.max_rss_mb
        assert limit is not None
        rss = self.rss_mb()
        self.stats.peak_rss_mb = max(self.stats.peak_rss_mb, rss)
        if rss > limit:
            if self._dead_reason is None:
                self._dead_reason = ReplMemoryExceeded(
                    rss_mb=rss, limit_mb=limit, stderr_tail=self.stderr_tail
                )
            kill_tree(self._proc.pid)
            self._memory_poll = None
            return
        self._memory_poll = asyncio.get_running_loop().call_later(
            self.config.rss_poll_interval, self._poll_memory
        )

    async def _drain_stderr(self) -> None:
        """Keep only the tail of stderr, so a flood can neither block the REPL nor fill memory."""
        stderr = self._proc.stderr
        assert stderr is not None
        while chunk := await stderr.read(_READ_CHUNK):
            self._stderr.append(chunk)
            self._stderr_size += len(chunk)
            while self._stderr_size > _STDERR_KEEP_BYTES and len(self._stderr) > 1:
                self._stderr_size -= len(self._stderr.popleft())

    # ------------------------------------------------------------------ shutdown

    async def _die(self, reason: ReplError) -> ReplError:
        """Kill the process; return the first reason it was given to die."""
        if self._dead_reason is None:
            self._dead_reason = reason
        await self.kill()
        return self._dead_reason

    async def kill(self) -> None:
        """Kill the whole process group (and any descendant that left it), then reap."""
        kill_tree(self._proc.pid)
        # wait() returns only once every pipe has closed. A reply left unread (too long, or
        # cut off by a timeout) can have filled asyncio's stdout buffer, which then stops
        # reading the pipe and never sees its end: wait() would hang. Nothing more from a
        # killed REPL is wanted, so stdout is closed on our side.
        stdout = self._proc._transport.get_pipe_transport(1)  # type: ignore[attr-defined]
        if stdout is not None:
            stdout.close()
        # No self._proc.kill() here: Popen.send_signal polls first, reaping the child behind
        # asyncio's child watcher (which then reports a bogus exit code 255).
        await self._proc.wait()

    async def close(self) -> None:
        """Stop the process and release its pipes. Safe to call twice."""
        if self._dead_reason is None:
            self._dead_reason = ReplCrashed(returncode=None, stderr_tail="process closed")
        await self.kill()
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        if self._stdin_probe is not None:
            os.close(self._stdin_probe)
            self._stdin_probe = None
        if self._stat_fd is not None:
            os.close(self._stat_fd)
            self._stat_fd = None
        self._tree.close()
        await asyncio.wait({self._stderr_task}, timeout=1.0)  # drained (EOF), or given up on
        await cancel_and_wait(self._stderr_task)


async def cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait until it has ended; its result or error is not wanted. A
    cancellation of the caller during the wait still propagates: ``with
    suppress(CancelledError): await task`` would swallow it, and Ctrl-C arriving at that
    moment would be lost (the command then waits out its proof's whole timeout)."""
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # retrieved, so that asyncio does not log it


PROBE_COMMAND = "example : True := trivial"
"""Needs no imports, so the real REPL answers it in about a second (Lean core only)."""


async def probe(config: ProcessConfig, warmup_timeout: float) -> None:
    """Start the REPL, send it one command that needs no imports, stop it. Raises
    ``ReplStartError`` (with the REPL's stderr) unless it answers within ``warmup_timeout``
    seconds.

    Run before a long job, so that a REPL that cannot run (a missing file, a path the
    sandbox hides) is one line at once rather than an outage for every sample."""
    process = await ReplProcess.spawn(config)
    try:
        await process.send(CommandRequest(cmd=PROBE_COMMAND), warmup_timeout)
    except ReplError as exc:
        hint = (
            (
                "; it runs in the sandbox, which hides /tmp and home folders only root can read "
                "and starts it in / (use absolute paths elsewhere, or run without the sandbox: "
                "--no-sandbox, STEPPROVER_SERVICE_SANDBOX=false for the service)"
            )
            if config.prefix
            else ""
        )
        why = (
            f"no answer within {warmup_timeout:g} s (the warm-up timeout)"
            if isinstance(exc, ReplTimeout)
            else exc.summary
        )
        raise ReplStartError(
            f"the REPL `{shlex.join(config.command)}` did not answer a first command: {why}{hint}",
            stderr_tail=exc.stderr_tail,
            timed_out=isinstance(exc, ReplTimeout),
        ) from exc
    finally:
        await process.close()
