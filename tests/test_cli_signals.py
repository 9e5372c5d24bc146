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


SPAWN_HELD_UNTIL_INTERRUPTED = r"""
import asyncio, os, runpy, signal, sys
from asyncio import unix_events

signal.signal(signal.SIGINT, signal.default_int_handler)  # as from a terminal
loop_class = unix_events._UnixSelectorEventLoop
connect = loop_class.connect_write_pipe
held = []

async def connect_after_interrupt(self, *args, **kwargs):
    # A loaded machine: the REPL's stdin pipe is connected only after Ctrl-C has arrived,
    # so the interrupt meets the spawn inside asyncio's create_subprocess_exec.
    if not held:
        held.append(True)
        open(os.environ["SPAWN_HELD_MARKER"], "w").close()
        while not any(task.cancelling() for task in asyncio.all_tasks()):
            await asyncio.sleep(0.01)
    return await connect(self, *args, **kwargs)

loop_class.connect_write_pipe = connect_after_interrupt
sys.argv = ["stepprover", *sys.argv[1:]]
runpy.run_module("stepprover.cli", run_name="__main__", alter_sys=True)
"""


def test_one_ctrl_c_stops_check_while_a_repl_is_being_spawned(tmp_path: Path) -> None:
    # Ctrl-C that meets a REPL spawn halfway (its pipes not yet connected) is not lost:
    # asyncio's own clean-up of a cancelled spawn kills only the process it started and
    # waits for pipes that the REPL's surviving child still holds.
    marker = tmp_path / "spawn-held"
    proof = tmp_path / "p.lean"
    proof.write_text("theorem t : True := by\n  trivial\n")
    repl = shlex.join(standin_command("--fork-child"))
    check = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SPAWN_HELD_UNTIL_INTERRUPTED,
            "check",
            str(proof),
            "--repl",
            repl,
            "--workers",
            "1",
            "--no-cache",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "SPAWN_HELD_MARKER": str(marker)},
    )
    try:
        deadline = time.monotonic() + 90
        while not marker.exists() and check.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), check.stderr.read().decode()  # type: ignore[union-attr]
        tree = wait_for_descendants(check.pid, 3)  # guard -> stand-in -> its child
        os.kill(check.pid, signal.SIGINT)
        try:
            check.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError("the first Ctrl-C was lost: check is still running") from None
        _, alive = psutil.wait_procs(tree, timeout=30)
    finally:
        if check.poll() is None:
            check.kill()
            check.wait()
    stderr = check.stderr.read().decode()  # type: ignore[union-attr]
    assert check.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted", stderr
    assert "Traceback" not in stderr
    assert not alive, [p.pid for p in alive]


IMPORT_HELD_UNTIL_INTERRUPTED = r"""
import os, runpy, signal, sys, time

signal.signal(signal.SIGINT, signal.default_int_handler)  # as from a terminal

class HoldImport:
    # A slow start-up (torch and friends load for seconds): Ctrl-C arrives mid-import.
    def find_spec(self, name, path=None, target=None):
        if name == "stepprover.cli.evaluate":
            open(os.environ["IMPORT_HELD_MARKER"], "w").close()
            while True:
                time.sleep(0.05)
        return None

sys.meta_path.insert(0, HoldImport())
sys.argv = ["stepprover", *sys.argv[1:]]
runpy.run_module("stepprover.cli", run_name="__main__", alter_sys=True)
"""


def test_ctrl_c_during_start_up_imports_is_one_line(tmp_path: Path) -> None:
    marker = tmp_path / "import-held"
    command = subprocess.Popen(
        [sys.executable, "-c", IMPORT_HELD_UNTIL_INTERRUPTED, "check", "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "IMPORT_HELD_MARKER": str(marker)},
    )
    try:
        deadline = time.monotonic() + 90
        while not marker.exists() and command.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), command.stderr.read().decode()  # type: ignore[union-attr]
        os.kill(command.pid, signal.SIGINT)
        command.wait(timeout=60)
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
    stderr = command.stderr.read().decode()  # type: ignore[union-attr]
    assert (command.returncode, stderr) == (130, "interrupted\n")


def test_sigterm_stops_check_with_one_line_and_143(tmp_path: Path) -> None:
    # 143 = 128 + SIGTERM, as a shell reports it; Ctrl-C is 130 (test_ctrl_c_stops_check_promptly).
    check = start_check(tmp_path)
    alive = signal_and_wait(check, signal.SIGTERM)
    stderr = check.stderr.read().decode()  # type: ignore[union-attr]
    assert check.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1] == "terminated (SIGTERM)", stderr
    assert "Traceback" not in stderr
    assert not alive
