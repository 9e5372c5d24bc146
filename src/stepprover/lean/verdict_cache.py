"""One Lean check per distinct proof: a content-addressed verdict cache around any ``Verifier``.

``CachingVerifier(inner, store, setup=..., config=...)`` answers ``check`` from a
SQLite store when the same proof was judged before, and runs ``inner.check``
otherwise. The key is the SHA-256 of

* ``RULES_VERSION`` of the verifier (bumped by any change to prefilter, probes or judging),
* the Lean setup identity (toolchain + Mathlib revision, or for a ``--repl`` command the
  command line plus the size and mtime of each file it names; see ``*_identity``),
* the ``VerifyConfig`` fields that can change a verdict (all but ``VERDICT_NEUTRAL``, so
  a new field is part of the key unless it is listed there),
* the proof (its bytes, header included) and the statement (header included, or none).

Only Lean's own verdicts are stored: ``proved``, ``lean_error``, ``sorry`` and
``rejected`` after Lean answered the proof (the verdict carries Lean's reply).
Timeouts, crashes, infrastructure failures and rejections made before Lean ran are
never stored. Checks of one key in flight at the same time are coalesced: one
``inner.check``, every caller gets its verdict; a caller that is cancelled leaves
the others waiting (the shared check is cancelled only when no caller is left).

A verdict that Lean did not produce for this call has ``cached=True``,
``lean_seconds=0`` and ``saved_seconds`` = the ``lean_seconds`` of the check that produced it.

The store is one SQLite file in WAL mode (default ``~/.cache/stepprover/verdicts.sqlite``),
safe for several processes at once; its calls run on one thread of their own so a
busy disk never blocks the event loop. A store that fails (full disk, locked too
long, unreadable row) costs a miss, never a verdict: the cache is trusted as much as
the folder it lives in, so gold-standard runs should pass ``--no-cache``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import logging
import os
import shlex
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from stepprover.lean.toolchain import LeanSetup
from stepprover.lean.verify import RULES_VERSION, Outcome, Verdict, Verifier, VerifyConfig

log = logging.getLogger(__name__)

VERDICT_NEUTRAL = frozenset({"timeout", "retry_on_crash"})
"""``VerifyConfig`` fields that cannot change a stored verdict: they only decide when a
check times out or crashes, and such verdicts are never stored."""
STORED_OUTCOMES = frozenset({Outcome.PROVED, Outcome.LEAN_ERROR, Outcome.SORRY, Outcome.REJECTED})
_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    key TEXT PRIMARY KEY,
    verdict TEXT NOT NULL,
    lean_seconds REAL NOT NULL,
    rules_version TEXT NOT NULL,
    stored_at REAL NOT NULL
)
"""


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/stepprover``, else ``~/.cache/stepprover``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stepprover"


def lean_setup_identity(setup: LeanSetup) -> str:
    """The installed Lean a verdict came from: toolchain, Mathlib and REPL revisions."""
    return f"lean-setup: {setup.toolchain}; mathlib {setup.mathlib_rev}; repl {setup.repl_rev}"


def repl_command_identity(command: str) -> str:
    """A ``--repl`` command: its text, plus the resolved path, size and mtime of every word
    that names a file (the executable first, then e.g. a script it runs), so a rebuilt
    binary or an edited script gets new keys."""
    words = shlex.split(command)
    files: list[str] = []
    for index, word in enumerate(words):
        path = shutil.which(word) if index == 0 else None
        path = path or (word if os.path.isfile(word) else None)
        if path is None:
            continue
        stat = os.stat(path)
        files.append(f"{os.path.realpath(path)}:{stat.st_size}:{stat.st_mtime_ns}")
    return json.dumps({"repl": command, "files": files})


def verdict_key(
    code: str | bytes, statement: str | None, *, setup: str, config: VerifyConfig
) -> str:
    """The hex SHA-256 that identifies one check (see the module doc for what goes in)."""
    settings = config.model_dump(exclude=set(VERDICT_NEUTRAL))
    parts: list[bytes | None] = [
        RULES_VERSION.encode(),
        setup.encode(),
        json.dumps(_canonical(settings), sort_keys=True).encode(),
        code if isinstance(code, bytes) else code.encode("utf-8", errors="surrogatepass"),
        None if statement is None else statement.encode("utf-8", errors="surrogatepass"),
    ]
    digest = hashlib.sha256()
    for part in parts:  # length-prefixed, so no two different tuples hash the same bytes
        digest.update(b"-" if part is None else b"%d:" % len(part) + part)
        digest.update(b"\n")
    return digest.hexdigest()


def _canonical(value: Any) -> Any:
    """JSON-ready and order-independent: sets become sorted lists (set order varies
    between processes with hash randomisation)."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def storable(verdict: Verdict) -> bool:
    """Lean's own verdict on the proof: an outcome Lean decided, with Lean's reply."""
    return verdict.outcome in STORED_OUTCOMES and verdict.reply is not None and not verdict.cached


class VerdictStore:
    """Verdicts by key in one SQLite file (WAL), shared safely by several processes.

    Every call runs on the store's own thread; ``get``/``put`` are awaitable.
    """

    def __init__(self, path: Path | str, *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="verdict-store")
        self._db: sqlite3.Connection | None = None
        self._busy_timeout = busy_timeout
        try:
            self._thread.submit(self._open).result()
        except (sqlite3.Error, OSError) as exc:  # the store is off; verdicts still come from Lean
            log.warning(
                "verdict cache %s unusable (%s); checking every proof with Lean", self.path, exc
            )

    @classmethod
    def in_dir(cls, folder: Path | str | None = None) -> VerdictStore:
        """The store ``verdicts.sqlite`` in ``folder`` (default: ``default_cache_dir()``)."""
        return cls(Path(folder or default_cache_dir()) / "verdicts.sqlite")

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(
            self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "PRAGMA synchronous=NORMAL"
            )  # WAL stays consistent; a lost last write is a miss
            db.execute(_SCHEMA)
        except sqlite3.Error:
            db.close()
            raise
        self._db = db

    async def get(self, key: str) -> Verdict | None:
        """The stored verdict, or None."""
        row = await self._call(self._get, key)
        if row is None:
            return None
        try:
            return Verdict.model_validate_json(row)
        except ValidationError as exc:  # written by another version: a miss
            log.warning("verdict cache: unreadable entry %s (%s)", key[:12], exc.error_count())
            return None

    async def put(self, key: str, verdict: Verdict) -> None:
        data = verdict.model_dump_json()
        await self._call(self._put, key, data, verdict.lean_seconds)

    def _get(self, key: str) -> str | None:
        if self._db is None:
            return None
        row = self._db.execute("SELECT verdict FROM verdicts WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _put(self, key: str, data: str, seconds: float) -> None:
        if self._db is None:
            return
        self._db.execute(
            "INSERT OR IGNORE INTO verdicts VALUES (?, ?, ?, ?, ?)",
            (key, data, seconds, RULES_VERSION, time.time()),
        )

    def count(self) -> int:
        return int(self._thread.submit(self._count).result())

    def _count(self) -> int:
        if self._db is None:
            return 0
        return int(self._db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0])

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def close(self) -> None:
        def shut() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        self._thread.submit(shut).result()
        self._thread.shutdown(wait=True)


@dataclass
class CacheStats:
    """What the cache did in this process."""

    hits: int = 0
    """Answered from the store."""
    coalesced: int = 0
    """Answered by an identical check that was already in flight."""
    misses: int = 0
    """Checks handed to the wrapped verifier."""
    saved_seconds: float = 0.0
    """Sum of ``saved_seconds`` over the verdicts answered without a check of their own."""

    @property
    def answered(self) -> int:
        return self.hits + self.coalesced + self.misses

    def line(self) -> str:
        rate = (self.hits + self.coalesced) / self.answered if self.answered else 0.0
        return (
            f"verdict cache: {self.hits + self.coalesced} hits ({self.coalesced} joined a check "
            f"in flight), {self.misses} misses, hit rate {100 * rate:.1f}%, "
            f"{self.saved_seconds:.1f} Lean seconds saved"
        )


@dataclass
class _Flight:
    task: asyncio.Task[tuple[Verdict, bool]]
    waiters: int = 0


class CachingVerifier:
    """A ``Verifier`` that checks each distinct proof once (see the module doc)."""

    def __init__(
        self, inner: Verifier, store: VerdictStore, *, setup: str, config: VerifyConfig
    ) -> None:
        self.inner = inner
        self.store = store
        self.setup = setup
        self.config = config
        self.stats = CacheStats()
        self._flights: dict[tuple[str, float | None], _Flight] = {}

    def key(self, code: str | bytes, statement: str | None) -> str:
        return verdict_key(code, statement, setup=self.setup, config=self.config)

    async def check(
        self,
        code: str | bytes,
        *,
        statement: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - see SketchRepl
    ) -> Verdict:
        started = time.monotonic()
        # The timeout joins the in-flight key only: a caller allowed longer must not get
        # the timeout of a shorter check; stored verdicts never depend on it.
        flight_key = (self.key(code, statement), timeout)
        flight = self._flights.get(flight_key)
        owner = flight is None
        if flight is None:
            flight = _Flight(
                asyncio.create_task(self._resolve(flight_key[0], code, statement, timeout))
            )
            self._flights[flight_key] = flight
            flight.task.add_done_callback(lambda _: self._forget(flight_key, flight))
        flight.waiters += 1
        try:
            verdict, from_store = await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            if not flight.task.done() and flight.waiters == 1:  # nobody else wants it
                self._forget(flight_key, flight)
                flight.task.cancel()
            raise
        finally:
            flight.waiters -= 1
        if owner and not from_store:
            return verdict
        if owner:
            self.stats.hits += 1
        else:
            self.stats.coalesced += 1
        self.stats.saved_seconds += verdict.lean_seconds
        return verdict.model_copy(
            update={
                "cached": True,
                "saved_seconds": verdict.lean_seconds,
                "lean_seconds": 0.0,
                "elapsed": time.monotonic() - started,
            }
        )

    async def _resolve(
        self,
        key: str,
        code: str | bytes,
        statement: str | None,
        timeout: float | None,  # noqa: ASYNC109 - see SketchRepl
    ) -> tuple[Verdict, bool]:
        """(verdict, came from the store): the store first, else the wrapped verifier."""
        try:
            found = await self.store.get(key)
        except (sqlite3.Error, OSError) as exc:
            log.warning("verdict cache: lookup failed (%s); checking with Lean", exc)
            found = None
        if found is not None:
            return found, True
        self.stats.misses += 1
        verdict = await self.inner.check(code, statement=statement, timeout=timeout)
        if storable(verdict):
            try:
                await self.store.put(key, verdict)
            except (sqlite3.Error, OSError) as exc:
                log.warning("verdict cache: store failed (%s)", exc)
        return verdict, False

    def _forget(self, flight_key: tuple[str, float | None], flight: _Flight) -> None:
        if self._flights.get(flight_key) is flight:
            del self._flights[flight_key]

    def close(self) -> None:
        self.store.close()


@dataclass(frozen=True)
class CacheSettings:
    """Where the verdict store lives and which Lean setup its verdicts come from."""

    folder: Path
    setup: str
    """``lean_setup_identity`` or ``repl_command_identity``."""

    def wrap(self, inner: Verifier, config: VerifyConfig) -> CachingVerifier:
        """``inner`` behind a cache over this folder's store (``close()`` it when done)."""
        return CachingVerifier(
            inner, VerdictStore.in_dir(self.folder), setup=self.setup, config=config
        )


def cache_settings(
    enabled: bool | None,
    folder: Path | str | None,
    *,
    repl: str | None,
    setup: LeanSetup | None = None,
) -> CacheSettings | None:
    """The cache a run uses, or None. ``enabled=None`` (no ``--cache``/``--no-cache``):
    on for the installed Lean, off for a ``--repl`` command (whose identity is only its
    command line and the files it names)."""
    if enabled is False or (enabled is None and repl):
        return None
    identity = repl_command_identity(repl) if repl else lean_setup_identity(setup or LeanSetup())
    return CacheSettings(Path(folder) if folder else default_cache_dir(), identity)
