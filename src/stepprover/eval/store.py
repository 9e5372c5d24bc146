"""A run's durable record: config, a small index of finished samples, trajectories.

One SQLite file per run (WAL, ``synchronous=NORMAL``): each finished sample is one
transaction that writes its index row and its trajectory together, so a run
killed at any point (even ``kill -9``) loses nothing it reported and never
half-writes a sample. (A power cut may roll back the last few commits, never
corrupt the file; a resume redoes those samples. ``FULL`` would fsync every
sample, several milliseconds each on the event loop.) Resuming reads only the
index table; a sample an outage cut short is stored but is not a result.
"""

from __future__ import annotations

import contextlib
import errno
import json
import shutil
import sqlite3
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict

from stepprover.agent.trajectory import RETRYABLE, Trajectory
from stepprover.errors import DiskFull, RunConfigMismatch, RunDamaged, RunNotFound
from stepprover.eval.metrics import SampleResult

_SCHEMA = """
CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    problem TEXT NOT NULL,
    sample_index INTEGER NOT NULL,
    solved INTEGER NOT NULL,
    outcome TEXT,
    finish TEXT,
    repl_calls INTEGER NOT NULL,
    final_context_tokens INTEGER,
    context_tokens INTEGER NOT NULL,
    PRIMARY KEY (problem, sample_index)
);
CREATE TABLE IF NOT EXISTS trajectories (
    problem TEXT NOT NULL,
    sample_index INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (problem, sample_index)
);
CREATE TABLE IF NOT EXISTS preflight (problem TEXT PRIMARY KEY, ok INTEGER NOT NULL, reason TEXT);
CREATE TABLE IF NOT EXISTS problems (problem TEXT PRIMARY KEY, position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS final_checks (
    problem TEXT NOT NULL,
    sample_index INTEGER NOT NULL,
    cached INTEGER NOT NULL,
    saved_seconds REAL NOT NULL,
    PRIMARY KEY (problem, sample_index)
);
"""


_RETRYABLE = ", ".join(sorted(f"'{f.value}'" for f in RETRYABLE))
_FINISHED = f"(finish IS NULL OR finish NOT IN ({_RETRYABLE}))"
"""Rows that are results: an outage's (or another failure's) row is kept only to be redone."""


class RunConfig(BaseModel):
    """Everything that makes two runs comparable; a resume must match it exactly."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    prompt_style: str
    samples: int
    sampling: dict[str, Any]
    budgets: dict[str, Any]
    lean: str
    """The Lean/Mathlib version (or REPL command) the run verifies with."""
    dataset: str
    dataset_sha256: str
    split: str | None = None
    rules_version: str | None = None
    """``verify.RULES_VERSION`` the run's verdicts were judged under (None: a run stored
    before runs recorded it, judged under some older rules)."""
    rejudged_from: str | None = None
    """The run folder whose final proofs this run re-verified (``eval --rejudge``)."""

    def judged_under(self) -> str:
        """The rules and the toolchain, as ``report`` and ``compare`` show them."""
        return f"rules {self.rules_version or 'not recorded (older run)'}; Lean {self.lean}"


@dataclass(frozen=True)
class FinalChecks:
    """The run's final verdicts and how many the verdict cache answered (``Verdict.cached``)."""

    total: int
    cached: int
    saved_seconds: float

    def line(self) -> str:
        return (
            f"verdict cache: {self.cached} hits, {self.total - self.cached} misses of "
            f"{self.total} final checks, {self.saved_seconds:.1f} Lean seconds saved"
        )


class RunStore:
    """``with RunStore.open(folder, config) as store: ...`` (closed on leaving the block)."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def open(cls, folder: Path | str, config: RunConfig) -> RunStore:
        """Create the run, or reopen it if ``config`` equals the stored one."""
        path = Path(folder) / "run.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise RunDamaged(f"{path} is a folder, not a run database")
        with _damage_is_one_line(path):
            db = sqlite3.connect(path, isolation_level=None)
        try:
            with _damage_is_one_line(path):
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")  # WAL: a killed process loses no commit
                db.executescript(_SCHEMA)
                stored = db.execute("SELECT value FROM config WHERE key = 'run'").fetchone()
                wanted = config.model_dump(mode="json")
                if stored is None:
                    db.execute(
                        "INSERT INTO config VALUES ('run', ?)",
                        (json.dumps(wanted, sort_keys=True),),
                    )
                else:
                    # a setting a stored run lacks reads as its default (None), so runs stored
                    # before a setting was recorded still open for reports
                    old, new = _flat(json.loads(stored[0])), _flat(wanted)
                    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
                    if changed:
                        detail = "; ".join(
                            f"{k}: stored {old.get(k)!r}, now {new.get(k)!r}" for k in changed
                        )
                        rules = (
                            " Its verdicts were judged under other verification rules: "
                            "`stepprover eval --rejudge RUN --run-dir NEW` re-verifies its final "
                            "proofs under the current ones."
                            if "rules_version" in changed
                            else ""
                        )
                        raise RunConfigMismatch(
                            f"{path.parent} holds a run with another configuration ({detail}). "
                            "Resume with the same settings, or start a new run folder." + rules
                        )
        except BaseException:
            db.close()
            raise
        return cls(path, db)

    @classmethod
    def reopen(cls, folder: Path | str) -> RunStore:
        """Open an existing run with its stored configuration (for reports)."""
        return cls.open(folder, cls.read_config(folder))

    @staticmethod
    def read_config(folder: Path | str) -> RunConfig:
        path = Path(folder) / "run.sqlite"
        if not path.exists():
            raise RunNotFound(f"{folder} holds no run (no run.sqlite)")
        if path.is_dir():
            raise RunDamaged(f"{path} is a folder, not a run database")
        with _damage_is_one_line(path):
            db = sqlite3.connect(path)
            try:
                row = db.execute("SELECT value FROM config WHERE key = 'run'").fetchone()
            finally:
                db.close()
            if row is None:
                raise RunNotFound(f"{folder} holds no run")
            return RunConfig.model_validate_json(row[0])

    def add(self, trajectory: Trajectory) -> None:
        """Record one finished sample durably (index row and trajectory in one transaction)."""
        verdict = trajectory.verdict
        row = (
            trajectory.problem,
            trajectory.sample_index,
            int(trajectory.solved),
            verdict.outcome.value if verdict else None,
            trajectory.finish.value if trajectory.finish else None,
            len(trajectory.repl_calls),
            trajectory.final_context_tokens,
            len(trajectory.prompt_ids) + len(trajectory.completion_ids),
        )
        blob = zlib.compress(trajectory.model_dump_json().encode())
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO samples VALUES (?,?,?,?,?,?,?,?)", row)
            self._db.execute(
                "INSERT OR REPLACE INTO trajectories VALUES (?,?,?)",
                (trajectory.problem, trajectory.sample_index, blob),
            )
            if verdict is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO final_checks VALUES (?,?,?,?)",
                    (
                        trajectory.problem,
                        trajectory.sample_index,
                        int(verdict.cached),
                        verdict.saved_seconds,
                    ),
                )

    def done(self) -> set[tuple[str, int]]:
        """(problem, sample_index) of every finished sample (retryable ones are not)."""
        return set(self._db.execute(f"SELECT problem, sample_index FROM samples WHERE {_FINISHED}"))

    def results(self) -> list[SampleResult]:
        """What the metrics need of every finished sample (retryable ones excluded)."""
        rows = self._db.execute(
            "SELECT problem, sample_index, solved, repl_calls, final_context_tokens FROM samples "
            f"WHERE {_FINISHED}"
        )
        return [SampleResult(p, i, s == 1, r, f) for p, i, s, r, f in rows]

    def solved_count(self) -> int:
        """Finished samples that were solved."""
        return int(
            self._db.execute(
                f"SELECT COUNT(*) FROM samples WHERE solved AND {_FINISHED}"
            ).fetchone()[0]
        )

    def retryable(self) -> dict[tuple[str, int], str]:
        """(problem, sample_index) -> error of every sample an outage cut short; a resume
        redoes exactly these (and the missing ones)."""
        rows = self._db.execute(
            "SELECT s.problem, s.sample_index, t.data FROM samples s JOIN trajectories t "
            f"USING (problem, sample_index) WHERE NOT {_FINISHED}"
        )
        return {(p, i): _decoded(blob, p, i, self.path).error or "" for p, i, blob in rows}

    def outcome_counts(self) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT COALESCE(outcome, finish), COUNT(*) FROM samples GROUP BY 1"
        )
        return {str(k): n for k, n in rows}

    def final_checks(self) -> FinalChecks:
        """Over the samples with a final verdict (runs stored before this table count none)."""
        total, cached, saved = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(cached), 0), COALESCE(SUM(saved_seconds), 0) "
            "FROM final_checks"
        ).fetchone()
        return FinalChecks(int(total), int(cached), float(saved))

    def trajectories(self, problem: str | None = None) -> Iterator[Trajectory]:
        query, args = "SELECT problem, sample_index, data FROM trajectories", tuple[str, ...]()
        if problem is not None:
            query, args = query + " WHERE problem = ?", (problem,)
        for p, i, blob in self._db.execute(query + " ORDER BY problem, sample_index", args):
            yield _decoded(blob, p, i, self.path)

    def forget_damaged(self) -> list[tuple[str, int]]:
        """Drop the samples whose stored trajectory cannot be read (a resume then runs them
        again, rather than counting a result nobody can show) and return them. Reads every
        trajectory: not done on resume, which reads only the index."""
        rows = self._db.execute("SELECT problem, sample_index, data FROM trajectories")
        damaged = []
        for p, i, blob in rows.fetchall():
            try:
                _decoded(blob, p, i, self.path)
            except RunDamaged:
                damaged.append((p, i))
        with self._transaction():
            for key in damaged:
                for table in ("samples", "trajectories", "final_checks"):
                    self._db.execute(
                        f"DELETE FROM {table} WHERE problem = ? AND sample_index = ?", key
                    )
        return damaged

    def record_problems(self, names: list[str]) -> None:
        """Add the problems this run covers (every average divides by their count)."""
        with self._transaction():
            start = self._db.execute("SELECT COUNT(*) FROM problems").fetchone()[0]
            for offset, name in enumerate(names):
                self._db.execute(
                    "INSERT OR IGNORE INTO problems VALUES (?, ?)", (name, start + offset)
                )

    def problems(self) -> list[str]:
        return [p for (p,) in self._db.execute("SELECT problem FROM problems ORDER BY position")]

    def record_preflight(self, problem: str, ok: bool, reason: str = "") -> None:
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO preflight VALUES (?,?,?)", (problem, int(ok), reason)
            )

    def forget_preflight(self, problem: str) -> None:
        """Drop a stored check (one that an outage now stands for: it is checked again)."""
        with self._transaction():
            self._db.execute("DELETE FROM preflight WHERE problem = ?", (problem,))

    def preflight(self) -> dict[str, tuple[bool, str]]:
        rows = self._db.execute("SELECT problem, ok, reason FROM preflight")
        return {p: (bool(ok), reason or "") for p, ok, reason in rows}

    def close(self) -> None:
        self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"sampling": {"temperature": 1.0}}`` as ``{"sampling.temperature": 1.0}``, so a
    refusal names the one setting that changed rather than two whole dicts."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@contextlib.contextmanager
def _damage_is_one_line(path: Path) -> Iterator[None]:
    """A run.sqlite that is not SQLite, is cut off, or holds an unreadable configuration:
    ``RunDamaged`` saying so, not a database traceback; a full disk: ``DiskFull``."""
    try:
        yield
    except (
        sqlite3.DatabaseError,
        ValueError,
    ) as exc:  # ValueError: bad JSON, a config pydantic refuses
        if disk_full(exc, path):
            raise DiskFull(disk_full_line(path)) from exc
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise RunDamaged(
            f"{path} is not a readable run database ({first}); move it aside to start "
            "a new run in this folder, or restore it from a copy"
        ) from exc


def disk_full(exc: BaseException, path: Path | None = None) -> bool:
    """Whether ``exc`` says that a write found its file system full: SQLite's SQLITE_FULL or
    the OS's ENOSPC, or SQLite's I/O error (growing its shared-memory file, say) while the
    file system of ``path`` has no room left."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(exc, sqlite3.Error) or code is None:
        return False
    if code & 0xFF == sqlite3.SQLITE_FULL:
        return True
    if code & 0xFF != sqlite3.SQLITE_IOERR or path is None:
        return False
    try:
        return shutil.disk_usage(path.parent).free < _NO_ROOM_BYTES
    except OSError:
        return False


_NO_ROOM_BYTES = 64 * 1024
"""Less free space than this on a database's file system: no room for SQLite to write."""


def disk_full_line(path: Path | None) -> str:
    """One line for a database its full disk kept from being written (it stays intact)."""
    if path is None:
        where = (
            "a database this command writes (the run folder's run.sqlite or gold.sqlite, "
            "or the verdict cache's verdicts.sqlite)"
        )
        return (
            f"disk full: {where} could not be written; what it holds is intact: free space "
            "on its file system and rerun the same command (eval resumes)"
        )
    folder = path.parent
    try:
        free = f", {shutil.disk_usage(folder).free // 1024} KiB free there"
    except OSError:
        free = ""
    return (
        f"disk full: {path} could not be written{free}; the run in it is intact: free space on "
        f"the file system of {folder} and rerun the same command (it resumes the run)"
    )


def _decoded(blob: bytes, problem: str, index: int, path: Path) -> Trajectory:
    """A stored trajectory; an unreadable one is ``RunDamaged`` naming its sample."""
    try:
        return Trajectory.model_validate_json(zlib.decompress(blob))
    except (zlib.error, ValueError) as exc:
        raise RunDamaged(
            f"{path}: the trajectory of {problem} sample {index} is damaged ({exc}); "
            "`stepprover report --drop-damaged` drops such samples, then the same "
            "`stepprover eval` runs them again (the others are kept)"
        ) from exc
