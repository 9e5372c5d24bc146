"""Lost workers and lost clients, over HTTP on 127.0.0.1 (the REPL is the stand-in, not Lean).

Faults are injected by progress: a test waits until the stand-in has taken the snippet (it
writes its pid to a file) and only then kills it; waits end on a state change."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import STANDIN
from tests.progress import until
from tests.server.conftest import free_port, running_service, standin_settings
from tests.server.test_service import SCRIPT

PROGRESS_WAIT = 90.0
"""Upper bound on waiting for a state change (a guard against hanging, not a timing assertion)."""


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + PROGRESS_WAIT
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


def pid_in(path: Path, other_than: int = 0) -> int:
    """The pid the stand-in wrote to ``path`` (once it differs from ``other_than``)."""

    def read() -> int:
        try:
            pid = int(path.read_text())
        except (FileNotFoundError, ValueError):
            return 0
        return pid if pid != other_than else 0

    return int(wait_for(read, f"a stand-in to write its pid to {path.name}"))


@contextmanager
def in_background(call: Callable[[], httpx.Response]) -> Iterator[list[httpx.Response]]:
    """Run ``call`` in a thread; the list holds its response once the block ends."""
    box: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: box.append(call()), daemon=True)
    thread.start()
    try:
        yield box
    finally:
        thread.join(timeout=PROGRESS_WAIT)
    assert box, "the request did not finish"


def test_worker_killed_from_outside_is_retried_and_labelled(tmp_path: Path) -> None:
    once, hung, twice = tmp_path / "once.pid", tmp_path / "hung", tmp_path / "twice.pid"
    with running_service(standin_settings(workers=2)) as url:

        def check(code: str) -> Callable[[], httpx.Response]:
            body = {"snippets": [{"id": "x", "code": code}], "timeout": 300}
            return lambda: httpx.post(url + "/api/check", json=body, timeout=PROGRESS_WAIT)

        # Killed once: the retry on another worker answers, as if nothing happened.
        with in_background(
            check(f"-- standin:pid-to={once} -- standin:hang-once={hung}\ndef a := 1")
        ) as box:
            os.kill(pid_in(once), signal.SIGKILL)
        result = box[0].json()["results"][0]
        assert (
            result["status"] == "ok" and result["attempts"] == 2 and result["response"]["env"] == 0
        )

        # Killed on both tries: labelled infrastructure, not the snippet's crash.
        with in_background(check(f"-- standin:pid-to={twice} -- standin:hang\ndef b := 1")) as box:
            first = pid_in(twice)
            os.kill(first, signal.SIGKILL)
            os.kill(pid_in(twice, other_than=first), signal.SIGKILL)
        result = box[0].json()["results"][0]
        assert result["status"] == "infrastructure" and result["attempts"] == 2
        assert "killed from outside by SIGKILL" in result["error"]
        assert (
            "not the snippet's fault" in result["error"]
            and "exited mid-request" not in result["error"]
        )

        # The snippet's own crash, for contrast: tried twice, still a crash, said so.
        crash = httpx.post(
            url + "/api/check",
            json={"snippets": [{"id": "c", "code": "-- standin:crash"}]},
            timeout=PROGRESS_WAIT,
        ).json()["results"][0]
        assert crash["status"] == "crash" and crash["attempts"] == 2
        assert "exited mid-request (return code 3)" in crash["error"]


def test_verify_keeps_the_batch_when_one_proofs_workers_are_killed(
    tmp_path: Path, script_file: Callable[[Any], str]
) -> None:
    once, hung, twice = tmp_path / "once.pid", tmp_path / "hung", tmp_path / "twice.pid"
    proof = "import Mathlib\ntheorem t : True := good_proof\n"
    with running_service(standin_settings("--script", script_file(SCRIPT), workers=3)) as url:
        body = {
            "proofs": [
                {"id": "good", "code": proof},
                {
                    "id": "killed-once",
                    "code": proof + f"-- standin:pid-to={once} -- standin:hang-once={hung}",
                },
                {
                    "id": "killed-twice",
                    "code": proof + f"-- standin:pid-to={twice} -- standin:hang",
                },
            ],
            "timeout": 300,
        }
        with in_background(
            lambda: httpx.post(url + "/api/verify", json=body, timeout=PROGRESS_WAIT)
        ) as box:
            os.kill(pid_in(once), signal.SIGKILL)
            first = pid_in(twice)
            os.kill(first, signal.SIGKILL)
            os.kill(pid_in(twice, other_than=first), signal.SIGKILL)
    assert box[0].status_code == 200, box[0].text
    results = {r["id"]: r for r in box[0].json()["results"]}
    assert results["good"]["verdict"]["outcome"] == "proved"
    assert results["killed-once"]["verdict"]["outcome"] == "proved"
    assert results["killed-once"]["verdict"]["attempts"] == 2
    lost = results["killed-twice"]
    assert (
        lost["verdict"] is None and lost["error_kind"] == "infrastructure"
    )  # no verdict, never a crash
    assert "killed from outside" in lost["error"]


def test_a_client_leaving_verify_cancels_its_work(tmp_path: Path) -> None:
    started = tmp_path / "started.pid"
    with running_service(standin_settings(workers=1)) as url:
        body = {
            "proofs": [
                {
                    "id": "h",
                    "code": f"theorem t : True := trivial\n-- standin:pid-to={started}"
                    "\n-- standin:hang",
                }
            ],
            "timeout": 500,
        }

        async def leave_once_it_runs() -> None:
            async with httpx.AsyncClient(timeout=PROGRESS_WAIT) as client:
                request = asyncio.ensure_future(client.post(url + "/api/verify", json=body))
                await until(started.exists, "the request to start running")
                request.cancel()  # the connection closes: the client is gone
                await asyncio.gather(request, return_exceptions=True)

        asyncio.run(leave_once_it_runs())
        hung = pid_in(started)
        # Cancelling kills the hanging worker now, not at the proof's 500 s timeout.
        wait_for(
            lambda: httpx.get(url + "/health").json()["replaced"] >= 1, "the worker to be replaced"
        )
        wait_for(lambda: not _running(hung), "the hanging stand-in to be killed")
        ok = httpx.post(
            url + "/api/check",
            json={"snippets": [{"id": "y", "code": "def y := 1"}]},
            timeout=PROGRESS_WAIT,
        )
        assert ok.json()["results"][0]["response"] == {"env": 0}


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_a_repl_dying_between_requests_never_fails_honest_proofs(
    script_file: Callable[[Any], str],
) -> None:
    """The stand-in exits after every third reply (as repl#77 / LeanInteract#6 report of
    real REPLs after a few hundred): every honest proof is still proved, on its first try."""
    proof = "import Mathlib\ntheorem t : True := good_proof\n-- {}"
    settings = standin_settings("--script", script_file(SCRIPT), "--crash-after", "3", workers=2)
    with running_service(settings) as url:
        body = {"proofs": [{"id": f"p{i}", "code": proof.format(i)} for i in range(24)]}
        verify = httpx.post(url + "/api/verify", json=body, timeout=PROGRESS_WAIT).json()["results"]
        snippets = [{"id": f"s{i}", "code": f"import Mathlib\ndef a{i} := 1"} for i in range(24)]
        check = httpx.post(url + "/api/check", json={"snippets": snippets}, timeout=PROGRESS_WAIT)
        replaced = httpx.get(url + "/health").json()["replaced"]
    assert [r["verdict"]["outcome"] for r in verify] == ["proved"] * 24, verify
    assert all(r["verdict"]["attempts"] == 1 for r in verify)
    results = check.json()["results"]
    assert [(r["status"], r["attempts"]) for r in results] == [("ok", 1)] * 24, results
    assert replaced >= 8  # the workers did die: ~50 commands, 2 of every 3 after a warm-up


def test_a_repl_that_always_exits_between_requests_is_said_so() -> None:
    """Each stand-in exits right after its warm-up reply, so no request is ever read: the
    answer is an infrastructure fault saying so, never the snippet's crash "mid-request"."""
    with running_service(standin_settings("--crash-after", "1", workers=1)) as url:
        run = httpx.post(
            url + "/api/run",
            json={"imports": "import Mathlib", "cmd": "def a := 1"},
            timeout=PROGRESS_WAIT,
        ).json()
        body = {"snippets": [{"id": "a", "code": "import Mathlib\ndef a := 1"}]}
        check = httpx.post(url + "/api/check", json=body, timeout=PROGRESS_WAIT).json()["results"][
            0
        ]
    assert run["status"] == "infrastructure" and check["status"] == "infrastructure"
    for error in (run["error"], check["error"]):
        assert "exited between requests (return code 5), before reading this one" in error
        assert "mid-request" not in error


@pytest.mark.slow
def test_the_recycle_threshold_follows_a_lowered_memory_cap() -> None:
    """Each command grows the stand-in by 20 MB; with the hard cap at 200 MB a worker must be
    recycled (at 0.8 of the cap) before one is killed mid-request for memory."""
    settings = standin_settings(
        "--grow-mb", "20", workers=1, max_rss_mb=200, max_commands_per_worker=None
    )
    assert settings.pool_config().recycle_threshold_mb == 160
    with running_service(settings) as url:
        results = []
        for i in range(16):
            body = {"snippets": [{"id": f"s{i}", "code": f"def a{i} := 1"}]}
            results += httpx.post(url + "/api/check", json=body, timeout=PROGRESS_WAIT).json()[
                "results"
            ]
        health = httpx.get(url + "/health").json()
    assert [(r["status"], r["attempts"]) for r in results] == [("ok", 1)] * 16, results
    assert health["recycled"] >= 1


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_promptly_on_a_signal_while_a_proof_hangs(
    sig: signal.Signals, tmp_path: Path
) -> None:
    """uvicorn's default graceful shutdown waits for requests in flight (up to MAX_TIMEOUT):
    `serve` must instead cancel them after a short grace and kill their REPLs."""
    started = tmp_path / "started.pid"
    port = free_port()
    env = {
        **os.environ,
        "STEPPROVER_SERVICE_REPL_COMMAND": f"{sys.executable} {STANDIN}",
        "STEPPROVER_SERVICE_WORKERS": "1",
        "STEPPROVER_SERVICE_SANDBOX": "false",
        "STEPPROVER_SERVICE_EXPECTED_WORKER_RSS_MB": "50",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "stepprover.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        assert "listening" in proc.stdout.readline()
        body = {
            "snippets": [
                {"id": "h", "code": f"def h := 1\n-- standin:pid-to={started}\n-- standin:hang"}
            ],
            "timeout": 500,
        }
        answers: list[object] = []

        def post() -> None:
            try:
                answers.append(
                    httpx.post(
                        f"http://127.0.0.1:{port}/api/check", json=body, timeout=PROGRESS_WAIT
                    ).status_code
                )
            except httpx.HTTPError as exc:  # the server may close the connection unanswered
                answers.append(type(exc).__name__)

        client = threading.Thread(target=post, daemon=True)
        client.start()
        hung = pid_in(started)  # the REPL has the proof: now stop the service
        stopping = time.monotonic()
        proc.send_signal(sig)
        proc.wait(timeout=PROGRESS_WAIT)
        took = time.monotonic() - stopping
        client.join(timeout=PROGRESS_WAIT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert took < 60, f"serve took {took:.0f} s to stop (the request asked for 500 s)"
    # as a shell reports a process the signal ended (130 for Ctrl-C, never 0 as if it finished)
    assert proc.returncode in (128 + sig, -sig), proc.returncode
    assert answers and answers != [200], answers  # ended by the shutdown, not answered
    wait_for(lambda: not _running(hung), "the hanging stand-in to be gone")
    assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")
