"""Signals: no REPL process outlives `stepprover check` (the REPL is the stand-in, not Lean).

The stand-in runs with --fork-child, so the process answering requests is a grandchild of
what stepprover starts, as under `lake env repl`.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import standin_command

pytestmark = pytest.mark.slow


def start_check(
    tmp_path: Path, *repl_args: str, extra: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    proof = tmp_path / "p.lean"
    proof.write_text("import Mathlib\n\ntheorem t : True := by\n  trivial -- standin:hang\n")
    repl = shlex.join(standin_command("--fork-child", *repl_args))
    argv = [
        sys.executable,
        "-m",
        "stepprover.cli",
        "check",
        str(proof),
        "--repl",
        repl,
        "--workers",
        "1",
        "--timeout",
        "600",
        *extra,
    ]
    return subprocess.Popen([*INTERRUPTIBLE, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


INTERRUPTIBLE = [
    sys.executable,
    "-c",
    (
        "import os, signal, sys; signal.signal(signal.SIGINT, "
        "signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
    ),
]
"""Run argv with SIGINT not ignored, as from a terminal. A test run started in the background
of a non-interactive shell (`pytest &`, as scripts/test-under-load does) ignores SIGINT, and
Python keeps an ignored SIGINT ignored, so Ctrl-C could not be tested."""


def wait_for_descendants(pid: int, count: int) -> list[psutil.Process]:
    """Wait (by progress: until `count` descendants exist) and return them."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        tree = psutil.Process(pid).children(recursive=True)
        if len(tree) >= count:
            return tree
        time.sleep(0.05)
    raise AssertionError(f"only {len(tree)} descendants of {pid} started")


def signal_and_wait(check: subprocess.Popen[bytes], signum: int) -> list[psutil.Process]:
    """Once the REPL tree is up (guard -> stand-in -> the stand-in's child, which hangs on
    the proof), send ``signum`` to `check`, wait for it to end, and return what of the tree
    is still alive after that."""
    try:
        tree = wait_for_descendants(check.pid, 3)
        os.kill(check.pid, signum)
        check.wait(timeout=60)
        _, alive = psutil.wait_procs(tree, timeout=30)
    finally:
        if check.poll() is None:
            check.kill()
            check.wait()
    return alive


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_no_repl_process_outlives_check(tmp_path: Path, signum: int) -> None:
    check = start_check(tmp_path)
    alive = signal_and_wait(check, signum)
    assert not alive, f"outlived stepprover check (signal {signum}): {[p.pid for p in alive]}"


@pytest.mark.parametrize("when", ["warm-up", "proof"])
def test_ctrl_c_stops_check_promptly(tmp_path: Path, when: str) -> None:
    # A warm-up that never ends (--hang answers nothing), or a proof that never ends.
    check = start_check(tmp_path, *(["--hang"] if when == "warm-up" else []))
    # Both the warm-up and the proof would take 600 s: ending at all is the test.
    alive = signal_and_wait(check, signal.SIGINT)
    assert check.returncode == 130, check.stderr.read().decode()  # type: ignore[union-attr]
    assert not alive
    assert "Traceback" not in check.stderr.read().decode()  # type: ignore[union-attr]
