"""Start `stepprover serve` as its own process on 127.0.0.1 (for load, fault and restart tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx

from stepprover.lean.process import die_with_parent
from tests.server.conftest import free_port


def _stops_with_its_starter() -> None:
    """SIGTERM (serve's prompt stop, which ends its REPLs) if the test or benchmark that
    started the service dies without stopping it (killed by a timeout, say)."""
    die_with_parent(signal.SIGTERM)


class ServiceProcess:
    def __init__(self, settings: dict[str, Any], port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            **{f"STEPPROVER_SERVICE_{k.upper()}": str(v) for k, v in settings.items()},
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: float = 30.0) -> ServiceProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stepprover.cli", "serve", "--port", str(self.port)],
            env=self.env,
            start_new_session=True,
            preexec_fn=_stops_with_its_starter,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("service did not start")

    def stop(self, *, hard: bool = False) -> None:
        if self.proc is None:
            return
        if hard:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the service and its REPL processes
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid
