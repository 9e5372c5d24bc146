"""Gold-standard re-verification of a proof with the Lean FRO's comparator.

comparator (github.com/leanprover/comparator, README "Comparator") takes a Lake
project with a trusted ``Challenge`` module (the statement with ``sorry``) and an
untrusted ``Solution`` module, and a JSON config::

    {"challenge_module": "Challenge", "solution_module": "Solution",
     "theorem_names": ["name"], "permitted_axioms": ["propext", ...]}

It builds both with ``lake build`` inside a landrun (Landlock) sandbox that may
write only the project's ``.lake``, exports them with lean4export, checks that
the theorem's statement and everything it mentions are the same constants in
both, that the proof uses only permitted axioms, and replays the solution in the
kernel. Success is exit code 0 and the line ``Your solution is okay!``; any
failure is an uncaught exception (``uncaught exception: <reason>`` on stderr,
exit code 1).

Each statement gets its own small Lake project under ``LeanSetup.gold_projects``
that requires the installed Mathlib by path and shares its package folder, so
nothing of Mathlib is rebuilt. The challenge is built once, by us, before any
solution exists there, and its ``.lake`` is kept aside; before every check the
project's ``.lake`` is replaced by that copy, because a solution's build could
write anything into ``.lake`` (comparator's own assumption 2: the challenge was
never built next to an adversarial file). So a check rebuilds only the solution.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from stepprover.errors import GoldUnavailable
from stepprover.lean.lean_texts import (
    COMPARATOR_CHILD_FAILED,
    COMPARATOR_CONFIG_KEYS,
    COMPARATOR_REFUSALS,
    COMPARATOR_SUCCESS,
    LAKE_ERROR_PREFIX,
    UNCAUGHT_EXCEPTION,
)
from stepprover.lean.process import die_with_parent, kill_tree, tree_rss_mb
from stepprover.lean.source import scan, split_imports, with_sorry
from stepprover.lean.toolchain import GOLD_PINS, LeanSetup, landlock_abi
from stepprover.lean.verify import DEFAULT_ALLOWED_AXIOMS, Outcome, Verdict

CHALLENGE = "Challenge"
SOLUTION = "Solution"
SUCCESS_LINE = COMPARATOR_SUCCESS
_OUTPUT_KEEP_BYTES = 64 * 1024
_LAKEFILE = """name = "stepprover_gold"
packagesDir = "{packages}"

[[require]]
name = "mathlib"
path = "{mathlib}"

[[lean_lib]]
name = "Challenge"

[[lean_lib]]
name = "Solution"
"""


class GoldConfig(BaseModel):
    """Limits of one gold check."""

    model_config = ConfigDict(frozen=True)

    timeout: float = 1800.0
    """Wall-clock seconds for one comparator run: building the solution (Mathlib is
    loaded, not rebuilt), exporting both modules and the kernel replay."""
    max_rss_mb: float = 32_768.0
    """comparator's whole process tree (lake, lean, lean4export, the replay) is killed past this."""
    workers: int = 1
    """comparator runs at once (each loads Mathlib and replays the export in the kernel)."""
    rss_poll_interval: float = 0.25


@dataclass(frozen=True)
class GoldTools:
    """Where comparator and what it needs live."""

    comparator: Sequence[str]
    """argv of the comparator binary (run as ``lake env <comparator> <config>``)."""
    lake: Sequence[str]
    landrun: Path
    lean4export: Path
    mathlib_dir: Path
    toolchain: str
    """The ``lean-toolchain`` line of the gold projects (the configured Lean)."""
    projects: Path
    path_prefix: Sequence[Path] = ()
    """Folders put first on comparator's PATH (old comparators find landrun and
    lean4export only there; newer ones also read COMPARATOR_LANDRUN/LEAN4EXPORT)."""
    env: Mapping[str, str] | None = None
    """Environment to start from; ``None`` is ours."""
    config_extra: Mapping[str, bool] = field(default_factory=dict)
    """Config keys this comparator revision requires beyond the four every one reads
    (``GoldPins.config_extra``; ``enable_nanoda`` from v4.30.0 on)."""
    require_landlock: bool = True
    """Refuse to run without Landlock: landrun's ``--best-effort`` (which comparator
    passes) would then run the solution's build unsandboxed. Off only for stand-ins."""

    @classmethod
    def from_setup(cls, setup: LeanSetup) -> GoldTools:
        """The tools `stepprover lean setup --with-comparator` installed for ``setup``."""
        return cls(
            comparator=[str(setup.comparator_binary)],
            lake=[setup.lake],
            landrun=setup.landrun_binary,
            lean4export=setup.lean4export_binary,
            mathlib_dir=setup.mathlib_dir,
            toolchain=setup.toolchain,
            projects=setup.gold_projects,
            path_prefix=(setup.gold_bin, setup.elan_home / "bin"),
            config_extra=_config_extra(setup.lean_version),
        )

    def missing(self) -> list[str]:
        """What is not there, one phrase each."""
        found = []
        for name, argv in (("comparator", self.comparator), ("lake", self.lake)):
            if not argv or not (Path(argv[0]).exists() or shutil.which(argv[0])):
                found.append(f"{name} ({argv[0] if argv else 'no command'})")
        for name, path in (("landrun", self.landrun), ("lean4export", self.lean4export)):
            if not path.exists():
                found.append(f"{name} ({path})")
        if not self.mathlib_dir.is_dir():
            found.append(f"Mathlib ({self.mathlib_dir})")
        if self.require_landlock and landlock_abi() is None:
            found.append(
                "Landlock in the kernel (Linux >= 5.13 booted with lsm=...,landlock; without it "
                "landrun --best-effort would build the solution unsandboxed)"
            )
        return found


class GoldVerdict(Verdict):
    """A comparator verdict: ``proved``, ``rejected`` (comparator's reason), ``timeout``
    or ``crash`` (comparator, its tools or the challenge failed: says nothing about the proof)."""

    peak_rss_mb: float = 0.0
    """Peak summed RSS of comparator's process tree, in MB (polled)."""
    output_tail: str = ""
    """The end of comparator's stdout and stderr."""


class _Stage(IntEnum):
    """How far comparator got, from its progress lines (only ever moves forward)."""

    START = 0
    CHALLENGE_BUILD = 1
    CHALLENGE_EXPORT = 2
    SOLUTION_BUILD = 3
    SOLUTION_EXPORT = 4
    KERNEL = 5


def _stage_of(line: str) -> _Stage | None:
    if line == f"Building {CHALLENGE}":
        return _Stage.CHALLENGE_BUILD
    if line == f"Building {SOLUTION}":
        return _Stage.SOLUTION_BUILD
    if line.startswith("Exporting ") and line.endswith(f" from {CHALLENGE}"):
        return _Stage.CHALLENGE_EXPORT
    if line.startswith("Exporting ") and line.endswith(f" from {SOLUTION}"):
        return _Stage.SOLUTION_EXPORT
    if line.startswith("Running ") and "kernel" in line:
        return _Stage.KERNEL
    return None


@dataclass
class _Run:
    """What one supervised process did."""

    returncode: int | None = None
    killed: str | None = None
    """``"timeout"`` or ``"memory"`` when we killed it."""
    stage: _Stage = _Stage.START
    success_line: bool = False
    stdout_tail: bytearray = field(default_factory=bytearray)
    stderr_tail: bytearray = field(default_factory=bytearray)
    first_error: str = ""
    """The first ``error:`` line of the build output (Lake prints Lean's errors so)."""
    peak_rss_mb: float = 0.0
    elapsed: float = 0.0

    def tail(self) -> str:
        out = self.stdout_tail.decode(errors="replace")
        err = self.stderr_tail.decode(errors="replace")
        return f"--- stdout (tail) ---\n{out}\n--- stderr (tail) ---\n{err}".strip()

    def exception(self) -> str:
        """comparator's ``uncaught exception`` message (the last one), or ''."""
        err = self.stderr_tail.decode(errors="replace")
        at = err.rfind(UNCAUGHT_EXCEPTION)
        return err[at + len(UNCAUGHT_EXCEPTION) :].strip()[:2000] if at >= 0 else ""


async def _supervise(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,  # noqa: ASYNC109 - see SketchRepl
    max_rss_mb: float,
    poll: float,
) -> _Run:
    """Run ``argv`` in its own process group under a wall-clock limit and an RSS cap on
    its whole tree; follow comparator's progress lines. The tree never outlives this call
    (timeout, memory, cancellation).

    A plain ``Popen`` polled from the event loop, with a thread per output pipe: asyncio's
    own subprocess support can wait forever when cancelled mid-spawn (CPython 3.11), as on
    Ctrl-C, and a comparator run takes minutes, so polling costs nothing."""
    run = _Run()
    started = time.monotonic()
    try:
        # A fork and exec, quick; die_with_parent only calls prctl (as the REPL's spawn does).
        proc = subprocess.Popen(  # noqa: ASYNC220
            list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, preexec_fn=die_with_parent,
        )  # fmt: skip
    except OSError as exc:
        raise GoldUnavailable(f"cannot start {argv[0]!r}: {exc}") from exc
    # Binary pipes with the default buffering: buffered readers, whose read1 returns what
    # has arrived instead of waiting for a full buffer.
    assert isinstance(proc.stdout, io.BufferedReader)
    assert isinstance(proc.stderr, io.BufferedReader)
    readers = [
        threading.Thread(target=_read_lines, args=(proc.stdout, run), daemon=True),
        threading.Thread(target=_read_tail, args=(proc.stderr, run.stderr_tail), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        while proc.poll() is None:
            rss = tree_rss_mb(proc.pid)
            run.peak_rss_mb = max(run.peak_rss_mb, rss)
            if rss > max_rss_mb:
                run.killed = "memory"
                break
            if time.monotonic() - started > timeout:
                run.killed = "timeout"
                break
            await asyncio.sleep(poll)
    finally:
        # Also on cancellation: what the process started must not outlive the check.
        kill_tree(proc.pid)
        proc.wait()
        for reader in readers:
            reader.join(timeout=5)  # a descendant that escaped the group may hold a pipe
        proc.stdout.close()
        proc.stderr.close()
    run.returncode = proc.returncode
    run.elapsed = time.monotonic() - started
    return run


def _read_lines(pipe: io.BufferedReader, run: _Run) -> None:
    """Keep the tail of stdout and follow comparator's progress lines (a reader thread)."""
    partial = bytearray()
    while chunk := pipe.read1(1 << 16):
        _keep(run.stdout_tail, chunk)
        partial += chunk
        *lines, rest = partial.split(b"\n")
        partial = bytearray(rest[-_OUTPUT_KEEP_BYTES:])  # a line that long is no marker
        for line in lines:
            _follow(run, line.decode(errors="replace").strip())
    _follow(run, partial.decode(errors="replace").strip())


def _read_tail(pipe: io.BufferedReader, tail: bytearray) -> None:
    while chunk := pipe.read1(1 << 16):
        _keep(tail, chunk)


def _follow(run: _Run, text: str) -> None:
    if not text:
        return
    stage = _stage_of(text)
    if stage is not None and stage > run.stage:
        run.stage = stage
    run.success_line = text == COMPARATOR_SUCCESS
    if not run.first_error and text.startswith(LAKE_ERROR_PREFIX):
        run.first_error = text[:500]


def _keep(buffer: bytearray, data: bytes) -> None:
    buffer += data
    if len(buffer) > _OUTPUT_KEEP_BYTES:
        del buffer[: len(buffer) - _OUTPUT_KEEP_BYTES]


def judge(run: _Run, *, timeout: float, max_rss_mb: float) -> tuple[Outcome, str]:
    """comparator's result as (outcome, reason). Proved only on exit 0 with the success
    line; rejected only where comparator refused the solution; anything else is a crash."""
    if run.killed == "timeout":
        return Outcome.TIMEOUT, f"comparator gave no result within {timeout:g} s; killed"
    if run.killed == "memory":
        return Outcome.CRASH, f"comparator's process tree passed {max_rss_mb:.0f} MB; killed"
    if run.returncode == 0:
        if run.success_line:
            return Outcome.PROVED, ""
        return Outcome.CRASH, f"comparator exited 0 without {COMPARATOR_SUCCESS!r}"
    thrown = run.exception()
    message = thrown or f"comparator exited with code {run.returncode}"
    if run.stage <= _Stage.CHALLENGE_EXPORT:
        return Outcome.CRASH, f"comparator failed before the solution was looked at: {message}"
    if COMPARATOR_REFUSALS.search(thrown):
        return Outcome.REJECTED, f"comparator: {message}"
    if run.stage is _Stage.KERNEL and thrown and run.returncode == 1:
        return Outcome.REJECTED, f"comparator: the kernel rejects the solution: {message}"
    if run.stage is _Stage.SOLUTION_BUILD and COMPARATOR_CHILD_FAILED.search(message):
        detail = f": {run.first_error}" if run.first_error else ""
        return Outcome.REJECTED, f"comparator: the solution does not build ({message}){detail}"
    if run.stage is _Stage.SOLUTION_EXPORT and COMPARATOR_CHILD_FAILED.search(message):
        return Outcome.REJECTED, f"comparator: lean4export cannot export the solution ({message})"
    return Outcome.CRASH, f"comparator failed: {message}"


class GoldChecker:
    """Runs comparator on (statement, proof) pairs; at most ``config.workers`` at once."""

    def __init__(
        self,
        tools: GoldTools,
        *,
        allowed_axioms: frozenset[str] = DEFAULT_ALLOWED_AXIOMS,
        config: GoldConfig | None = None,
    ) -> None:
        """Raises ``GoldUnavailable`` naming every missing tool."""
        if missing := tools.missing():
            raise GoldUnavailable(
                "the gold check needs "
                + ", ".join(missing)
                + "; run `stepprover lean setup --with-comparator` (and check with "
                "`stepprover lean doctor --with-comparator`)"
            )
        self.tools = tools
        self.allowed_axioms = allowed_axioms
        self.config = config or GoldConfig()
        self._slots = asyncio.Semaphore(self.config.workers)
        self._project_locks: dict[Path, asyncio.Lock] = {}

    async def check(self, statement: str, code: str) -> GoldVerdict:
        """Re-verify ``code`` (imports + proof) against ``statement`` (header + theorem
        ``... := by``). Never raises for anything the proof does; ``GoldUnavailable`` only
        when a tool cannot be started."""
        started = time.monotonic()
        declared = scan(split_imports(statement).body).declarations[-1:]
        if not declared:
            return GoldVerdict(outcome=Outcome.CRASH, reason="the statement declares no theorem")
        name = comparator_name(declared[0].resolved)
        if name is None:
            return GoldVerdict(
                outcome=Outcome.CRASH,
                reason=f"comparator cannot name theorem {declared[0].full_name}: it reads "
                "names with String.toName, which splits at every dot and trims each part",
            )
        project = self.tools.projects / hashlib.sha256(statement.encode()).hexdigest()[:20]
        async with self._slots, self._project(project):
            try:
                verdict = await self._prepare(project, statement) or await self._compare(
                    project, name, code
                )
            except OSError as exc:
                verdict = GoldVerdict(
                    outcome=Outcome.CRASH, reason=f"cannot set up the gold project {project}: {exc}"
                )
        return verdict.model_copy(update={"elapsed": time.monotonic() - started})

    @contextlib.asynccontextmanager
    async def _project(self, project: Path) -> AsyncIterator[None]:
        """One check at a time per project, in this process and across processes."""
        lock = self._project_locks.setdefault(project, asyncio.Lock())
        async with lock:
            project.mkdir(parents=True, exist_ok=True)
            with (project / ".lock").open("w") as handle:
                while True:
                    try:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        await asyncio.sleep(0.2)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    async def _prepare(self, project: Path, statement: str) -> GoldVerdict | None:
        """Write the project and build the challenge once (trusted: no solution there yet),
        keeping its ``.lake`` aside. Returns a crash verdict if the challenge does not build."""
        snapshot = project / "challenge-build"
        stamp = project / "challenge-build.sha256"
        digest = hashlib.sha256(statement.encode()).hexdigest()
        if stamp.exists() and stamp.read_text() == digest and snapshot.is_dir():
            return None
        for stale in (project / ".lake", snapshot, project / f"{SOLUTION}.lean"):
            _remove(stale)
        mathlib = self.tools.mathlib_dir.resolve()
        packages = os.path.relpath(mathlib / ".lake" / "packages", project.resolve())
        (project / "lakefile.toml").write_text(
            _LAKEFILE.format(packages=packages, mathlib=os.path.relpath(mathlib, project.resolve()))
        )
        (project / "lean-toolchain").write_text(self.tools.toolchain + "\n")
        source = split_imports(statement)
        challenge = (
            (source.imports + "\n" if source.imports else "") + with_sorry(source.body) + "\n"
        )
        (project / f"{CHALLENGE}.lean").write_text(challenge)
        run = await _supervise(
            [*self.tools.lake, "build", CHALLENGE], project, self._env(), self.config.timeout,
            self.config.max_rss_mb, self.config.rss_poll_interval,
        )  # fmt: skip
        if run.killed or run.returncode != 0:
            why = run.killed or f"exit code {run.returncode}"
            return GoldVerdict(
                outcome=Outcome.CRASH, reason=f"the challenge (the statement with sorry) did not "
                f"build ({why}): {run.first_error or run.exception()}".rstrip(": "),
                peak_rss_mb=run.peak_rss_mb, output_tail=run.tail(), elapsed=run.elapsed,
            )  # fmt: skip
        shutil.copytree(project / ".lake", snapshot, symlinks=True)
        stamp.write_text(digest)
        return None

    async def _compare(self, project: Path, name: str, code: str) -> GoldVerdict:
        _remove(project / ".lake")
        shutil.copytree(project / "challenge-build", project / ".lake", symlinks=True)
        (project / f"{SOLUTION}.lean").write_text(code)
        config_path = project / "comparator.json"
        values = (CHALLENGE, SOLUTION, [name], sorted(self.allowed_axioms))
        config: dict[str, object] = dict(zip(COMPARATOR_CONFIG_KEYS, values, strict=True))
        config.update(self.tools.config_extra)
        config_path.write_text(json.dumps(config, indent=2))
        run = await _supervise(
            [*self.tools.lake, "env", *self.tools.comparator, str(config_path)], project,
            self._env(), self.config.timeout, self.config.max_rss_mb, self.config.rss_poll_interval,
        )  # fmt: skip
        outcome, reason = judge(run, timeout=self.config.timeout, max_rss_mb=self.config.max_rss_mb)
        return GoldVerdict(
            outcome=outcome, reason=reason, axioms=None, peak_rss_mb=run.peak_rss_mb,
            output_tail=run.tail(),
        )  # fmt: skip

    def _env(self) -> dict[str, str]:
        env = dict(os.environ if self.tools.env is None else self.tools.env)
        prefix = os.pathsep.join(str(p) for p in self.tools.path_prefix)
        env["PATH"] = (
            f"{prefix}{os.pathsep}{env.get('PATH', '')}" if prefix else env.get("PATH", "")
        )
        env["COMPARATOR_LANDRUN"] = str(self.tools.landrun)
        env["COMPARATOR_LEAN4EXPORT"] = str(self.tools.lean4export)
        return env


def _config_extra(lean_version: str) -> dict[str, bool]:
    """The pinned comparator's extra config keys; none without pins (``missing`` then names
    the tools that are not installed)."""
    pins = GOLD_PINS.get(lean_version)
    return dict(pins.config_extra) if pins else {}


def comparator_name(components: tuple[str, ...]) -> str | None:
    """How to write a name in comparator's config, or None if it cannot be written.

    comparator turns each config name into a ``Name`` with ``String.toName`` (Lean
    ``src/Lean/Data/NameMap.lean``: split at every ``.``, each part trimmed, no guillemet
    escapes), so ``«my theorem»`` must be written ``my theorem``; a component that holds a
    dot, starts or ends with whitespace, or is empty has no spelling."""
    if any(not c or "." in c or c != c.strip() for c in components):
        return None
    return ".".join(components)


def _remove(path: Path) -> None:
    """Delete a file or folder without following links; folders a solution's build made
    unreadable or unwritable are opened up first (it owns nothing else)."""

    def open_up(_function: object, failed: str, _exc: object) -> None:
        parent = os.path.dirname(failed)
        os.chmod(parent, 0o700)
        if os.path.isdir(failed) and not os.path.islink(failed):
            os.chmod(failed, 0o700)
            shutil.rmtree(failed)
        else:
            os.unlink(failed)

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, onerror=open_up)
    else:
        path.unlink(missing_ok=True)
