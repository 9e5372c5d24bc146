"""A real service on 127.0.0.1 (uvicorn in a thread) over the stand-in REPL (not Lean)."""

from __future__ import annotations

import shlex
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from stepprover.server.app import create_app
from stepprover.server.settings import ServiceSettings
from tests.conftest import STANDIN

SYSTEM_PYTHON = "/usr/bin/python3"
"""The sandbox's user can run the system Python (not one under /root)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_service(settings: ServiceSettings) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def standin_settings(
    *args: str, python: str | None = None, script: str | None = None, **overrides: Any
) -> ServiceSettings:
    import sys

    command = shlex.join([python or sys.executable, script or str(STANDIN), *args])
    base: dict[str, Any] = {
        "repl_command": command,
        "workers": 2,
        "sandbox": False,
        "expected_worker_rss_mb": 50,
        "max_rss_mb": 2000,
    }
    return ServiceSettings(**{**base, **overrides})


@pytest.fixture
def service() -> Callable[..., Any]:
    return running_service
