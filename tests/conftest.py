"""Shared fixtures: the stand-in REPL, the golden transcripts, and an orphan check."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from stepprover.lean.pool import PoolConfig
from stepprover.lean.process import ProcessConfig
from stepprover.lean.toolchain import LeanSetup, lean_ready

STANDIN = Path(__file__).parent / "fakes" / "standin_repl.py"
REPO = Path(__file__).resolve().parent.parent

RUN_ID_VAR = "STEPPROVER_TEST_RUN_ID"
RUN_ID = uuid.uuid4().hex
# Every process this pytest run starts inherits the tag, so the orphan check below finds
# this run's stand-ins and never another run's (two runs may share one checkout).
os.environ[RUN_ID_VAR] = RUN_ID
# RLIMIT_NPROC counts every process of the sandbox user: a run's fork-bomb test must not
# starve another run's sandboxed REPLs, so each run sandboxes as its own (unused) uid.
os.environ.setdefault("STEPPROVER_SANDBOX_USER", str(3_000_000 + os.getpid()))
# One thread per torch op (this process and the ones it starts): the tiny models gain
# nothing from more, and on a busy machine extra threads only contend (50 training steps of
# a tiny model took 33 s with 2 threads against 8 s with 1, on 2 cores under load).
os.environ.setdefault("OMP_NUM_THREADS", "1")


DATA = Path(__file__).parent / "data"
"""Recorded data the tests replay; each folder's PROVENANCE.md or README.md says where it is
from."""

DIALECTS = ("v4.20.1", "v4.33.0-rc2")
"""The REPL versions whose own test transcripts are recorded: the pinned one (branch
``bump_to_v4.20.1``) first, then a later one kept as a second dialect."""
TRANSCRIPT_SETS = {d: DATA / f"repl-{d}" / "test" for d in DIALECTS}
TRANSCRIPTS = TRANSCRIPT_SETS[DIALECTS[0]]
"""The pinned REPL's transcripts."""


def standin_command(*args: str) -> list[str]:
    """argv that starts the stand-in REPL (a test program, not Lean)."""
    return [sys.executable, str(STANDIN), *args]


@pytest.fixture
def script_file(tmp_path: Path) -> Callable[[Any], str]:
    """Write a stand-in script (what "Lean" answers) and return its path."""

    def write(script: Any) -> str:
        path = tmp_path / f"script-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(script))
        return str(path)

    return write


def standin_pool_config(*args: str, workers: int = 2, **pool: Any) -> PoolConfig:
    process = pool.pop("process", {})
    return PoolConfig(
        process=ProcessConfig(command=standin_command(*args), **process),
        workers=workers,
        expected_worker_rss_mb=50,
        **pool,
    )


def _started_by_this_run(p: psutil.Process) -> bool:
    """Tagged with this run's id (a sandbox may clear the environment: then by ancestry)."""
    try:
        if p.environ().get(RUN_ID_VAR) == RUN_ID:
            return True
        return any(parent.pid == os.getpid() for parent in p.parents())
    except psutil.Error:
        return False


def standin_processes() -> list[psutil.Process]:
    """Live stand-in REPL processes this test run started (any copy of the stand-in)."""
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        cmdline = p.info["cmdline"] or []
        is_standin = any(
            Path(part).name.startswith(("standin_repl", "stepprover-standin-")) for part in cmdline
        )
        if is_standin and p.info["status"] != "zombie" and _started_by_this_run(p):
            found.append(p)
    return found


@pytest.fixture(autouse=True)
def no_orphan_processes() -> Iterator[None]:
    """Every test must leave no stand-in REPL process behind."""
    yield
    deadline = time.monotonic() + 3
    while (alive := standin_processes()) and time.monotonic() < deadline:
        time.sleep(0.05)
    for p in alive:
        p.kill()
    assert not alive, f"orphan stand-in REPL processes: {[p.pid for p in alive]}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if lean_ready(LeanSetup()):
        return
    skip = pytest.mark.skip(
        reason="no Lean toolchain + built REPL + Mathlib (stepprover lean doctor)"
    )
    for item in items:
        if item.get_closest_marker("lean") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tokenizer() -> Any:
    """A tiny byte-level BPE tokenizer with the R1/StepFun special tokens (built locally)."""
    from tests.fakes.tiny_model import build_tokenizer

    return build_tokenizer()


@pytest.fixture
def sandbox_standin() -> Iterator[Path]:
    """A copy of the stand-in REPL the sandbox can see: it hides /tmp (where CI may clone)
    and home folders only root can read."""
    import shutil
    import uuid

    if not (shutil.which("bwrap") and Path("/usr/bin/python3").exists()):
        pytest.skip("needs bubblewrap (.ci/run installs it) and /usr/bin/python3")
    copy = Path("/var/tmp") / f"stepprover-standin-{uuid.uuid4().hex}.py"
    shutil.copy(STANDIN, copy)
    copy.chmod(0o755)
    yield copy
    copy.unlink(missing_ok=True)
