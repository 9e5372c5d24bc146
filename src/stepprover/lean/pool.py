"""A pool of warm REPL workers, keyed by the import block they were started with.

Each worker elaborates its imports once (e.g. ``import Mathlib``, a minute of
work) and then runs every command in that environment, with the command's text
otherwise unchanged so that message positions match what the caller wrote.

Policy (after kimina-lean-server's manager, minus its failures):

1. An idle worker with the same imports takes the request.
2. Else a new worker starts if the pool is under its size.
3. Else an idle worker of another import block is evicted for a new one, but only
   when demand calls for it (``_evict_for``): workers follow demand, so traffic that
   alternates between blocks does not start a REPL per check. A block's fair share is
   the pool size times its part of the last ``RECENT_PER_WORKER`` x size requests
   (the mix the clients send, whatever the queues look like at one moment). A worker
   moves from block B to a waiting block A when A has none, or when B is more than one
   worker further above its share than A (so that the next move cannot undo it). A
   block with no recent traffic has a share of 0: it keeps its idle workers until
   another block waits, then gives them up.
4. Else the request waits (at most ``max_queue`` wait; more raise ``PoolBusy``),
   first come first served within its block. Every event (a worker freed, a slot
   freed) wakes one waiter of each block that has any: with one block, one waiter.

A worker that ran a command the prefilter would refuse (any sketch or snippet with
``#eval``, meta code, ``def``...: what the verifier never sends) retires right after
it: such code can leave state behind in the process (a background task that later
writes a forged reply to the REPL's stdout, process-wide refs), and that worker
would go on to verify proofs. The verifier's own commands are passed as trusted.

A worker found dead before use (it exited while idle) is dropped and replaced
before any request is given to it; a request sent to a worker that died before
reading it is sent again to another (it cannot be at fault, it was never read).
But a worker that exits on its own before it ever answered (no warm-up reply, no
reply to a request) failed to start: that is a start failure (``ReplStartError``,
``last_start_error`` in the health), not retried on yet another doomed start, and
not replaced in the background. Only a worker's answer clears ``last_start_error``.

A worker retires after ``max_commands`` commands or once its RSS passes the soft
recycle threshold (by default ``RECYCLE_FRACTION`` of the hard cap); its successor is
warmed *before* it leaves (started when the remaining commands would take about as
long as a warm-up), so throughput does not dip. A worker that timed out, crashed or
ran out of memory is already dead; a replacement warms in the background while other
workers keep serving.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Self, TypeVar

import psutil

from stepprover.errors import (
    PoolBusy,
    PoolClosed,
    ReplCrashed,
    ReplError,
    ReplStartError,
    ReplTimeout,
)
from stepprover.lean.outcome import CommandOutcome
from stepprover.lean.prefilter import prefilter
from stepprover.lean.process import ProcessConfig, ReplProcess
from stepprover.lean.protocol import CommandReply, CommandRequest, Reply, Request
from stepprover.lean.source import EnvKey, env_key, odd_imports, split_imports

MATHLIB_WORKER_RSS_MB = 6500.0
"""RSS of a REPL after ``import Mathlib`` (measured on Mathlib v4.20)."""

RECYCLE_FRACTION = 0.8
"""Default soft recycle threshold, as a fraction of the hard RSS cap."""
RECENT_PER_WORKER = 32
"""The fair shares of rule 3 count the last this many x pool size requests."""
UNREAD_EXTRA_TRIES = 2
"""A request whose worker died before reading it is sent again, to at most pool size +
this many workers in all (workers with equal lives can die one after another)."""

_T = TypeVar("_T")


def default_worker_count(expected_worker_rss_mb: float, *, reserve_mb: float = 2048.0) -> int:
    """Workers this machine can hold: at most cores - 1, and what free memory allows."""
    by_cpu = max(1, (os.cpu_count() or 2) - 1)
    available_mb = psutil.virtual_memory().available / 2**20
    by_memory = int((available_mb - reserve_mb) // max(expected_worker_rss_mb, 1.0))
    return max(1, min(by_cpu, by_memory))


@dataclass(frozen=True)
class PoolConfig:
    """Size, recycling and queueing of a worker pool."""

    process: ProcessConfig
    workers: int | None = None
    """Pool size; ``None`` means ``default_worker_count(expected_worker_rss_mb)``."""
    expected_worker_rss_mb: float = MATHLIB_WORKER_RSS_MB
    max_commands: int | None = 500
    """Retire a worker after this many commands (``None``: never)."""
    recycle_rss_mb: float | None = None
    """Retire a worker after a command that left its RSS above this (MB); ``None``:
    ``RECYCLE_FRACTION`` of the hard, mid-request cap ``process.max_rss_mb`` (no
    recycling by memory without a cap). Must stay below the cap."""
    warmup_timeout: float = 300.0
    max_queue: int = 10_000
    """Requests allowed to wait for a worker; more raise ``PoolBusy``."""
    prewarm: bool = True
    """Warm a retiring worker's successor before it leaves."""
    max_spares: int | None = None
    """Successors warming at once (``None``: as many as there are workers); a
    spare also needs ``expected_worker_rss_mb`` of free memory."""

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ValueError("PoolConfig.workers must be at least 1")
        if self.max_commands is not None and self.max_commands < 1:
            raise ValueError("PoolConfig.max_commands must be at least 1 (or None)")
        cap = self.process.max_rss_mb
        if self.recycle_rss_mb is not None and cap is not None and self.recycle_rss_mb >= cap:
            raise ValueError(
                f"the recycle threshold ({self.recycle_rss_mb:g} MB) must be below the hard RSS "
                f"cap ({cap:g} MB), or workers are killed mid-request instead of recycled"
            )

    @property
    def recycle_threshold_mb(self) -> float | None:
        """The soft RSS threshold in effect (MB), ``None`` for none."""
        if self.recycle_rss_mb is not None:
            return self.recycle_rss_mb
        cap = self.process.max_rss_mb
        return None if cap is None else RECYCLE_FRACTION * cap

    @property
    def size(self) -> int:
        return self.workers or default_worker_count(self.expected_worker_rss_mb)


@dataclass
class _Block:
    """The requests of one import block (``_Worker.imports``) in the pool."""

    wake: asyncio.Condition
    sleeping: int = 0
    """Requests of the block waiting for an event."""
    starting: int = 0
    """Workers of the block being started (for a request, or as a replacement)."""


@dataclass(frozen=True)
class PoolHealth:
    """A snapshot of the pool, for health checks and metrics."""

    size: int
    workers: int
    idle: int
    busy: int
    starting: int
    spares: int
    waiting: int
    served: int
    replaced: int
    recycled: int
    closed: bool
    last_start_error: str | None = None
    """Why the latest REPL start failed (it could not be spawned, its warm-up failed, or it
    exited before its first answer), unless a REPL has answered since (a warm-up the
    header's imports made Lean refuse is not counted: that is the request's fault)."""
    ready: int = 0
    """Workers that have answered (their warm-up or a request): known to work."""
    started: int = 0
    """REPL processes started since the pool opened (warm-ups, replacements, evictions)."""

    @property
    def status(self) -> str:
        """``closed``; ``unavailable`` (no worker known to work, and the latest start failed:
        every check would be an infrastructure error); else ``ok``."""
        if self.closed:
            return "closed"
        return "unavailable" if self.ready == 0 and self.last_start_error else "ok"

    @property
    def saturated(self) -> bool:
        """A check sent now would wait: requests are queued, or nothing is idle and there is
        no room to start a worker."""
        no_room = self.workers + self.starting >= self.size
        return self.waiting > 0 or (self.idle == 0 and no_room)


def _may_leave_state(request: Request) -> bool:
    """Whether an untrusted request could run code beyond what a verified proof may hold:
    a command the prefilter refuses, or any request that is not a command."""
    if not isinstance(request, CommandRequest):
        return True
    source = split_imports(request.cmd)  # (bounded: a slow reading is a refusal, so taints)
    deadline = time.monotonic() + _PREFILTER_SECONDS
    return bool(prefilter(source.body, imports=source.imports, deadline=deadline))


_PREFILTER_SECONDS = 10.0


class _Worker:
    def __init__(self, process: ReplProcess, imports: str, env: int | None, life: int | None):
        self.process = process
        self.imports = imports
        self.key: EnvKey = env_key(imports)
        """The environment it holds: a request whose imports have this key may use it."""
        self.env = env
        self.life = life
        self.commands = 0
        self.successor: asyncio.Task[_Worker] | None = None
        self.idle_since = time.monotonic()
        self.tainted = False
        """It ran a command the prefilter refuses: it serves nothing after that command."""
        self.answered = env is not None
        """It has answered (its warm-up, or a request): it did start."""
        self.start_failed = False
        """It exited on its own before it ever answered: not replaced in the background."""

    def mean_command_seconds(self) -> float:
        stats = self.process.stats
        return stats.busy_seconds / stats.requests if stats.requests else 0.0


_worker_seconds: ContextVar[list[float] | None] = ContextVar("worker_seconds", default=None)


@contextmanager
def worker_seconds() -> Iterator[list[float]]:
    """Inside the block, each request this task sends through ``ReplPool.run`` appends the
    seconds a worker spent on it (waiting for a worker excluded): the Lean time of a check."""
    seconds: list[float] = []
    token = _worker_seconds.set(seconds)
    try:
        yield seconds
    finally:
        _worker_seconds.reset(token)


class ReplPool:
    """Header-keyed warm REPL workers. ``async with ReplPool(config) as pool: ...``."""

    def __init__(self, config: PoolConfig) -> None:
        self.config = config
        self.size = config.size
        self._workers: set[_Worker] = set()
        self._idle: list[_Worker] = []
        self._starting = 0
        self._spares = 0
        self._waiting = 0
        self._blocks: dict[EnvKey, _Block] = {}
        self._recent: deque[EnvKey] = deque()
        """The import blocks of the latest requests (rule 3's window), counted in _arrivals."""
        self._arrivals: dict[EnvKey, int] = {}
        self._spawned = 0
        self._served = 0
        self._replaced = 0
        self._recycled = 0
        self._warmup_seconds: dict[EnvKey, float] = {}
        self._last_start_error: str | None = None
        self._lock = asyncio.Lock()
        self._cond = asyncio.Condition(self._lock)
        """Its lock guards the pool's state; waiters sleep on their block's condition."""
        self._changed = asyncio.Event()  # set (and replaced) whenever a worker may be free
        self._tasks: set[asyncio.Task[Any]] = set()
        self._processes: set[ReplProcess] = set()
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ public API

    async def run(
        self,
        imports: str,
        request: Request,
        timeout: float,  # noqa: ASYNC109 - see SketchRepl
        *,
        trusted: bool = False,
    ) -> Reply:
        """Run ``request`` on a worker whose environment holds ``imports``.

        A command without an explicit ``env`` runs in the imports' environment.
        ``trusted``: the request passed the prefilter (the verifier's commands); an
        untrusted one that the prefilter refuses, and any request other than a command,
        retires its worker afterwards (see the module doc).

        Raises:
            ReplError: the worker timed out, crashed or exceeded memory (it is
                replaced in the background).
            PoolBusy, PoolClosed: the pool cannot take the request.
        """
        if odd := odd_imports(imports):  # a module file outside the search path
            raise ReplStartError(f"imports {', '.join(odd)}: not a plain module name", refused=True)
        tries = self.size + UNREAD_EXTRA_TRIES
        # read in a thread, so a long sketch never holds up the other requests of the loop
        leaves_state = not trusted and await asyncio.to_thread(_may_leave_state, request)
        for attempt in range(1, tries + 1):
            worker = await self._acquire(imports)
            started = time.monotonic()
            if leaves_state:
                worker.tainted = True
            try:
                sent = request
                if isinstance(sent, CommandRequest) and sent.env is None:
                    sent = sent.model_copy(update={"env": worker.env})
                reply = await worker.process.send(sent, timeout)
                self._served += 1
                worker.answered = True
                self._last_start_error = None  # a REPL answered: starts work
                return reply
            except ReplError as exc:
                if self._closed:
                    raise PoolClosed("the REPL pool was closed during the request") from exc
                if isinstance(exc, ReplCrashed) and exc.between_requests:
                    if not worker.answered and not exc.killed_from_outside:
                        raise self._start_failed(worker, exc) from exc
                    if attempt < tries:
                        continue  # never read, so safe to send again (the dead worker is replaced)
                raise
            finally:
                if (clock := _worker_seconds.get()) is not None:
                    clock.append(time.monotonic() - started)
                await self._release(worker)
        raise AssertionError("unreachable")

    def _start_failed(self, worker: _Worker, exc: ReplCrashed) -> ReplStartError:
        """The worker exited on its own before it ever answered: a start failure (recorded
        for the health check), not a worker lost between requests."""
        worker.start_failed = True
        error = ReplStartError(
            f"REPL exited before answering its first request (return code {exc.returncode})",
            stderr_tail=exc.stderr_tail,
        )
        self._last_start_error = str(error)
        return error

    async def run_command(
        self,
        imports: str,
        cmd: str,
        timeout: float,  # noqa: ASYNC109 - see SketchRepl
        *,
        trusted: bool = False,
    ) -> CommandOutcome:
        """Run one command (the sketch interface): ``run``, its outcome described instead of
        raised. ``PoolBusy`` is still raised (back-pressure)."""
        return await CommandOutcome.of(
            self.run(imports, CommandRequest(cmd=cmd), timeout, trusted=trusted)
        )

    async def warm(self, imports: str, count: int | None = None) -> None:
        """Start ``count`` workers (default: the pool size) for ``imports`` now."""
        workers = await asyncio.gather(
            *(self._acquire(imports) for _ in range(min(count or self.size, self.size)))
        )
        for worker in workers:
            await self._release(worker, counted=False)

    async def health(self) -> PoolHealth:
        """Drop idle workers that died while idle and report the pool's state."""
        async with self._cond:
            for worker in [w for w in self._idle if not w.process.alive]:
                self._idle.remove(worker)
                self._drop_dead(worker)
            return self.snapshot()

    def snapshot(self) -> PoolHealth:
        """The pool's state now, without touching it (cheap; for metrics)."""
        idle = len(self._idle)
        return PoolHealth(
            size=self.size,
            workers=len(self._workers),
            idle=idle,
            busy=len(self._workers) - idle,
            starting=self._starting,
            spares=self._spares,
            waiting=self._waiting,
            served=self._served,
            replaced=self._replaced,
            recycled=self._recycled,
            closed=self._closed,
            last_start_error=self._last_start_error,
            ready=sum(w.answered for w in self._workers),
            started=self._spawned,
        )

    async def until_free(self) -> None:
        """Return once a check sent now would not wait for a worker (or the pool closed)."""
        while not self._closed and self.snapshot().saturated:
            await self._changed.wait()

    def worker_pids(self) -> list[int]:
        """Process ids of the workers now serving (for tests and metrics)."""
        return [w.process.pid for w in self._workers]

    async def close(self) -> None:
        """Stop every worker and background task; waiting requests get ``PoolClosed``."""
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._workers.clear()
        self._idle.clear()
        # Every process ever spawned, including warmed successors nobody took over.
        processes = list(self._processes)
        await asyncio.gather(*(self._close_process(p) for p in processes), return_exceptions=True)
        async with self._cond:
            for block in self._blocks.values():
                block.wake.notify_all()
        self._changed.set()

    # ------------------------------------------------------------------ acquire / release

    def _block(self, imports: str) -> _Block:
        key = env_key(imports)
        block = self._blocks.get(key)
        if block is None:
            block = self._blocks[key] = _Block(asyncio.Condition(self._lock))
        return block

    def _settle(self, imports: str) -> None:
        """Forget a block's bookkeeping once nothing of it is left in the pool."""
        key = env_key(imports)
        block = self._blocks.get(key)
        if block is not None and not (block.sleeping or block.starting):
            del self._blocks[key]

    def _notify(self) -> None:
        """An event (a worker or a slot freed): wake one waiter of each waiting block. Waiters
        of one block are interchangeable, so one each is enough; the one that cannot use
        the event sleeps again."""
        for block in self._blocks.values():
            if block.sleeping:
                block.wake.notify()
        self._changed.set()  # and every until_free
        self._changed = asyncio.Event()

    async def _acquire(self, imports: str) -> _Worker:
        if self._closed:
            raise PoolClosed("the REPL pool is closed")
        if self._waiting >= self.config.max_queue:
            raise PoolBusy(queued=self._waiting, max_queue=self.config.max_queue)
        self._waiting += 1
        self._arrive(imports)
        try:
            try:
                async with self._cond:
                    block = self._block(imports)  # kept while it sleeps or starts (_settle)
                    newcomer = True
                    while True:
                        if self._closed:
                            raise PoolClosed("the REPL pool is closed")
                        # First come, first served: a newcomer queues behind its block's
                        # sleeping waiters instead of taking the worker freed for one of them.
                        if not (newcomer and block.sleeping):
                            worker = self._take_idle(imports)
                            if worker is not None:
                                if block.sleeping and any(w.key != worker.key for w in self._idle):
                                    block.wake.notify()  # the next may evict one (rule 3)
                                return worker
                            if self._has_room() or self._evict_for(imports):
                                self._starting += 1
                                block.starting += 1
                                break
                        newcomer = False
                        block.sleeping += 1
                        try:
                            await block.wake.wait()
                        finally:
                            block.sleeping -= 1
            finally:
                self._waiting -= 1
            try:
                worker = await self._start_worker(imports)
            except BaseException as exc:
                async with self._cond:
                    self._starting -= 1
                    block.starting -= 1
                    self._notify()
                if self._closed and isinstance(exc, ReplError):
                    raise PoolClosed("the REPL pool was closed during the warm-up") from exc
                raise
            async with self._cond:
                self._starting -= 1
                block.starting -= 1
                if self._closed:
                    await self._close_process(worker.process)
                    raise PoolClosed("the REPL pool is closed")
                self._workers.add(worker)
            return worker
        finally:
            self._settle(imports)

    def _arrive(self, imports: str) -> None:
        """Count a request in rule 3's window of recent requests."""
        key = env_key(imports)
        self._recent.append(key)
        self._arrivals[key] = self._arrivals.get(key, 0) + 1
        if len(self._recent) > RECENT_PER_WORKER * self.size:
            old = self._recent.popleft()
            self._arrivals[old] -= 1
            if not self._arrivals[old]:
                del self._arrivals[old]

    def _take_idle(self, imports: str) -> _Worker | None:
        """An idle, live worker for ``imports``; the dead ones met on the way are replaced."""
        key = env_key(imports)
        for worker in [w for w in self._idle if w.key == key]:
            self._idle.remove(worker)
            if worker.process.alive:
                return worker
            self._drop_dead(worker)
        return None

    def _drop_dead(self, worker: _Worker) -> None:
        """Take out a worker found dead while idle. It is replaced unless it never answered
        (it may never start: the next request starts one, rather than a loop of doomed starts)."""
        self._forget(worker)
        if worker.answered:
            self._replace(worker.imports)

    def _has_room(self) -> bool:
        return len(self._workers) + self._starting < self.size

    def _evict_for(self, imports: str) -> bool:
        """Stop an idle worker of another block to make room for one of ``imports``, if the
        blocks' demand calls for it (rule 3 of the module doc). The victim is the oldest
        idle worker of the block furthest above its fair share."""
        wanted = env_key(imports)
        others = [w for w in self._idle if w.key != wanted]
        if not others:
            return False
        workers: dict[EnvKey, int] = {}
        for worker in self._workers:
            workers[worker.key] = workers.get(worker.key, 0) + 1
        for key, block in self._blocks.items():
            workers[key] = workers.get(key, 0) + block.starting
        total = len(self._recent)

        def surplus(key: EnvKey) -> int:  # workers above the fair share, times ``total``
            return workers.get(key, 0) * total - self.size * self._arrivals.get(key, 0)

        victim = max(others, key=lambda w: (surplus(w.key), -w.idle_since))
        if workers.get(wanted, 0) and surplus(victim.key) - surplus(wanted) <= total:
            return False  # it has a worker, and the victim's block is not far enough above
        self._idle.remove(victim)
        self._forget(victim)
        return True

    async def _release(self, worker: _Worker, *, counted: bool = True) -> None:
        if counted:
            worker.commands += 1
        async with self._cond:
            if self._closed:
                await self._close_process(worker.process)
                return
            alive = worker.process.alive
            if not alive and worker.start_failed:
                self._forget(worker)  # not replaced: see _drop_dead
            elif not alive:
                self._forget(worker, keep_successor=True)
                self._replace(worker.imports, successor=worker.successor)
            elif worker.tainted or self._must_retire(worker, rss := self._rss_mb(worker)):
                self._recycled += 1
                self._forget(worker, keep_successor=True)
                self._replace(worker.imports, successor=worker.successor)
            else:
                if self.config.prewarm and worker.successor is None and self._near_end(worker, rss):
                    worker.successor = self._start_spare(worker.imports)
                worker.idle_since = time.monotonic()
                self._idle.append(worker)
            self._notify()

    def _forget(self, worker: _Worker, *, keep_successor: bool = False) -> None:
        """Take a worker out of service and stop it (and, unless kept, its successor)."""
        self._workers.discard(worker)
        self._spawn(self._close_process(worker.process))
        if worker.successor is not None and not keep_successor:
            worker.successor.cancel()  # a successor that already warmed is closed by close()

    # ------------------------------------------------------------------ life cycle

    def _rss_mb(self, worker: _Worker) -> float:
        """The worker's RSS now, read only when a recycle threshold needs it."""
        return 0.0 if self.config.recycle_threshold_mb is None else worker.process.rss_mb()

    def _must_retire(self, worker: _Worker, rss_mb: float) -> bool:
        if worker.life is not None and worker.commands >= worker.life:
            return True
        cap = self.config.recycle_threshold_mb
        return cap is not None and rss_mb > cap

    def _near_end(self, worker: _Worker, rss_mb: float) -> bool:
        """Would the worker's remaining commands take about as long as warming its successor?"""
        cap = self.config.recycle_threshold_mb
        if cap is not None and rss_mb > 0.85 * cap:
            return True
        if worker.life is None:
            return False
        per_command = worker.mean_command_seconds()
        warmup = self._warmup_seconds.get(worker.key, self.config.warmup_timeout)
        remaining = (worker.life - worker.commands) * per_command
        return remaining <= 1.5 * warmup + per_command

    def _start_spare(self, imports: str) -> asyncio.Task[_Worker] | None:
        max_spares = self.config.max_spares if self.config.max_spares is not None else self.size
        free_mb = psutil.virtual_memory().available / 2**20
        if self._spares >= max_spares or free_mb < self.config.expected_worker_rss_mb:
            return None
        self._spares += 1

        async def warm_spare() -> _Worker:
            try:
                return await self._start_worker(imports)
            finally:
                self._spares -= 1

        return self._spawn(warm_spare())

    def _replace(self, imports: str, successor: asyncio.Task[_Worker] | None = None) -> None:
        """Fill a freed slot in the background, with the warmed successor if there is one."""
        self._replaced += 1
        self._starting += 1
        self._block(imports).starting += 1

        async def fill_slot() -> None:
            try:
                worker = await (successor if successor is not None else self._start_worker(imports))
            except (ReplError, OSError):
                return  # the next request for these imports starts a worker itself
            finally:
                async with self._cond:
                    self._starting -= 1
                    self._blocks[env_key(imports)].starting -= 1
                    self._settle(imports)
                    self._notify()
            async with self._cond:
                if self._closed:
                    await self._close_process(worker.process)
                    return
                self._workers.add(worker)
                self._idle.append(worker)
                self._notify()

        self._spawn(fill_slot())

    async def _start_worker(self, imports: str) -> _Worker:
        try:
            worker = await self._launch_worker(imports)
        except ReplStartError as exc:
            if not exc.refused:
                self._last_start_error = str(exc)
            raise
        except OSError as exc:
            self._last_start_error = f"cannot start REPL: {exc}"
            raise
        return worker  # spawned is not started: only an answer clears _last_start_error

    async def _launch_worker(self, imports: str) -> _Worker:
        self._spawned += 1
        life = self._life_for(self._spawned)
        started = time.monotonic()
        process = await ReplProcess.spawn(self.config.process)
        self._processes.add(process)
        env: int | None = None
        if imports.strip():
            try:
                reply = await process.send(CommandRequest(cmd=imports), self.config.warmup_timeout)
            except ReplTimeout as exc:
                await self._close_process(process)
                raise ReplStartError(
                    f"warm-up {imports!r} gave no reply within the warm-up timeout "
                    f"({self.config.warmup_timeout:g} s, --warmup-timeout); REPL killed",
                    stderr_tail=exc.stderr_tail,
                    timed_out=True,
                ) from exc
            except ReplError as exc:
                await self._close_process(process)
                raise ReplStartError(f"warm-up {imports!r} failed: {exc}") from exc
            except BaseException:
                await self._close_process(process)
                raise
            self._last_start_error = None  # the REPL answered (refused imports are theirs)
            errors = [m.data for m in getattr(reply, "messages", []) if m.severity == "error"]
            if not isinstance(reply, CommandReply) or errors or reply.env is None:
                await self._close_process(process)
                raise ReplStartError(
                    f"warm-up {imports!r} was refused: {errors or reply.raw}", refused=True
                )
            env = reply.env
        elapsed = time.monotonic() - started
        previous = self._warmup_seconds.get(env_key(imports))
        self._warmup_seconds[env_key(imports)] = (
            elapsed if previous is None else 0.7 * previous + 0.3 * elapsed
        )
        return _Worker(process, imports, env, life)

    def _life_for(self, ordinal: int) -> int | None:
        """Stagger the first generation's lives so that workers do not all retire at once."""
        limit = self.config.max_commands
        if limit is None or ordinal > self.size:
            return limit
        return max(1, limit - (ordinal - 1) * limit // (2 * self.size))

    def _spawn(self, aw: Awaitable[_T]) -> asyncio.Task[_T]:
        task: asyncio.Task[_T] = asyncio.ensure_future(aw)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _close_process(self, process: ReplProcess) -> None:
        try:
            await process.close()
        finally:
            self._processes.discard(process)  # only once it is surely dead
