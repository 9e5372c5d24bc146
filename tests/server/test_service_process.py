"""The test harness's own service process never outlives the test run that started it."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from tests.conftest import standin_command

REPO = Path(__file__).resolve().parents[2]
STARTER = """
import sys, time
from tests.server.service_process import ServiceProcess
service = ServiceProcess({"repl_command": sys.argv[1], "workers": 1, "sandbox": "false"})
print(service.start().pid, flush=True)
time.sleep(600)
"""


def test_a_service_whose_starter_is_killed_stops_with_its_repls() -> None:
    # A benchmark or test run killed by a timeout (SIGKILL: no clean-up runs) left `serve`
    # and its REPLs running for good before the service got a parent-death signal.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, shlex.join(standin_command())],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert starter.stdout is not None
    service = psutil.Process(int(starter.stdout.readline()))
    tree = [service, *service.children(recursive=True)]
    starter.kill()
    starter.wait()
    _, alive = psutil.wait_procs(tree, timeout=60)  # a hang guard, not a timing bound
    for p in alive:
        os.kill(p.pid, signal.SIGKILL)
    assert not alive, f"left running: {[p.pid for p in alive]}"
