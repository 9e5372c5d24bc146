"""Reliability under load and faults, loopback only (the REPL is the stand-in, not Lean).

- load: 16 concurrent clients, 5,000 proofs (70% valid, 15% error, 10% sorry, 4% crashing,
  1% hanging against a 2 s timeout): each answered exactly once with the right verdict;
  the service's RSS grows by less than 50 MB from after warm-up to the end;
- faults: workers killed with SIGKILL during the load, and the service restarted mid-run
  while the client retries: nothing lost, no orphan process left;
- bad input: schemathesis against the OpenAPI schema, plus hand-made bad requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from stepprover.lean.remote import RemoteLean
from tests.conftest import STANDIN
from tests.server.service_process import ServiceProcess

pytestmark = pytest.mark.slow

AXIOMS = {
    "severity": "info",
    "pos": {"line": -2, "column": 0},
    "endPos": None,
    "data": "'t' does not depend on any axioms",
}
SCRIPT = [
    ["kind:valid", {"messages": [AXIOMS]}],
    [
        "kind:error",
        {
            "messages": [
                {
                    "severity": "error",
                    "pos": {"line": 1, "column": 0},
                    "endPos": {"line": 1, "column": 4},
                    "data": "type mismatch",
                }
            ]
        },
    ],
    [
        "kind:sorry",
        {
            "messages": [
                {
                    "severity": "warning",
                    "pos": {"line": 1, "column": 8},
                    "endPos": {"line": 1, "column": 9},
                    "data": "declaration uses 'sorry'",
                },
                AXIOMS,
            ]
        },
    ],
    ["*", {}],
]
EXPECTED = {
    "valid": "proved",
    "error": "lean_error",
    "sorry": "sorry",
    "crash": "crash",
    "hang": "timeout",
}


def make_proofs(n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """(id, kind, code) with the required mix, shuffled."""
    counts = {
        "valid": int(n * 0.70),
        "error": int(n * 0.15),
        "sorry": int(n * 0.10),
        "crash": int(n * 0.04),
    }
    counts["hang"] = n - sum(counts.values())
    kinds = [k for k, c in counts.items() for _ in range(c)]
    random.Random(seed).shuffle(kinds)
    marker = {"crash": "-- standin:crash", "hang": "-- standin:hang"}
    return [
        (
            f"p{i}",
            kind,
            f"theorem t : True := by\n  trivial -- kind:{kind} id:{i}\n" + marker.get(kind, ""),
        )
        for i, kind in enumerate(kinds)
    ]


def service_settings(script: str, **extra: Any) -> dict[str, Any]:
    return {
        "repl_command": shlex.join([sys.executable, str(STANDIN), "--script", script]),
        "workers": 4,
        "sandbox": False,
        "expected_worker_rss_mb": 50,
        "max_queue": 10_000,
        "max_timeout": 2,
        **extra,
    }


async def run_clients(
    url: str,
    proofs: list[tuple[str, str, str]],
    clients: int = 16,
    on_progress: Callable[[int], Awaitable[None] | None] | None = None,
) -> dict[str, list[str]]:
    """Answer every proof with `clients` concurrent clients; ``on_progress(answered)`` runs
    after each answer (awaited if it returns an awaitable, holding up only that client)."""
    queue: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()
    for item in proofs:
        queue.put_nowait(item)
    answers: dict[str, list[str]] = {}
    remote = RemoteLean(url, retries=12, backoff=0.2, max_backoff=2.0)

    async def client() -> None:
        while not queue.empty():
            pid, _, code = queue.get_nowait()
            verdict = await remote.check(code, timeout=2)
            answers.setdefault(pid, []).append(verdict.outcome.value)
            if on_progress is not None and (pending := on_progress(len(answers))) is not None:
                await pending

    try:
        await asyncio.gather(*(client() for _ in range(clients)))
    finally:
        await remote.close()
    return answers


def runs_per_proof(log: Path) -> Counter[str]:
    """How many times "Lean" (every stand-in of the service) received each proof id."""
    ids = (re.search(r"id:(\d+)", json.loads(line)) for line in log.read_text().splitlines())
    return Counter(f"p{m[1]}" for m in ids if m)


def test_duplicate_runs_are_detectable(tmp_path: Path) -> None:
    log = tmp_path / "requests.log"
    log.write_text(
        "".join(
            json.dumps(json.dumps({"cmd": f"trivial -- kind:valid id:{i}"})) + "\n"
            for i in (1, 2, 2)
        )
    )
    assert runs_per_proof(log) == Counter({"p1": 1, "p2": 2})


def test_load_every_proof_answered_once_with_its_verdict(
    script_file: Callable[[Any], str], tmp_path: Path
) -> None:
    proofs = make_proofs(5000)
    log = tmp_path / "requests.log"
    service = ServiceProcess(
        service_settings(
            script_file(SCRIPT),
            repl_command=shlex.join(
                [sys.executable, str(STANDIN), "--script", script_file(SCRIPT), "--log", str(log)]
            ),
        )
    ).start()
    try:
        rss: list[float] = []

        def progress(done: int) -> None:
            if done in (500, 5000) and len(rss) < 2:
                rss.append(psutil.Process(service.pid).memory_info().rss / 2**20)

        answers = asyncio.run(run_clients(service.url, proofs, on_progress=progress))
        rss.append(psutil.Process(service.pid).memory_info().rss / 2**20)
    finally:
        service.stop()
    assert sorted(answers) == sorted(pid for pid, _, _ in proofs), "a proof was lost"
    # Each proof is run exactly as often as it should be: once, or twice when it crashed (the one
    # retry on a fresh worker). A proof run more often was duplicated inside the service.
    expected_runs = {pid: 2 if kind == "crash" else 1 for pid, kind, _ in proofs}
    runs = runs_per_proof(log)
    duplicated = {pid: n for pid, n in runs.items() if n != expected_runs[pid]}
    assert not duplicated and set(runs) == set(expected_runs), list(duplicated.items())[:10]
    wrong = [
        (pid, kind, answers[pid][0]) for pid, kind, _ in proofs if answers[pid][0] != EXPECTED[kind]
    ]
    assert not wrong, wrong[:10]
    print(f"\nservice RSS after warm-up {rss[0]:.1f} MB, at the end {rss[-1]:.1f} MB")
    assert rss[-1] - rss[0] < 50, rss


def test_faults_killed_workers_and_a_restart_lose_nothing(
    script_file: Callable[[Any], str],
) -> None:
    proofs = [p for p in make_proofs(1500, seed=1) if p[1] in ("valid", "error", "sorry")]
    service = ServiceProcess(service_settings(script_file(SCRIPT))).start()
    # Faults come by progress, not by the clock, so a fast or a busy machine sees the same
    # run: a worker is killed after every KILL_EVERY answers, and after the 8th kill the
    # service is restarted while the other clients keep sending (and retrying).
    kill_every, restart_after = 60, 8
    assert len(proofs) > kill_every * (restart_after + 4)
    kills = 0
    restarted = False

    async def chaos(answered: int) -> None:
        nonlocal kills, restarted
        if answered % kill_every or answered // kill_every <= kills:
            return
        while kills < answered // kill_every:
            try:
                workers = (
                    psutil.Process(service.pid).children(recursive=True) if service.proc else []
                )
            except psutil.Error:
                workers = []
            if not workers:  # restarting, or between workers: wait for the next one
                await asyncio.sleep(0.05)
                continue
            with contextlib.suppress(psutil.Error):
                random.choice(workers).kill()
            kills += 1
        if kills >= restart_after and not restarted:
            restarted = True
            await asyncio.to_thread(service.stop)
            await asyncio.to_thread(service.start)

    pid: int | None = None
    try:
        answers = asyncio.run(run_clients(service.url, proofs, on_progress=chaos))
    finally:
        pid = service.pid if service.proc else None
        service.stop()
    assert kills >= restart_after + 4 and restarted, kills
    assert sorted(answers) == sorted(pid for pid, _, _ in proofs), "a proof was lost"
    assert all(len(v) == 1 for v in answers.values())
    outcomes = Counter(v[0] for v in answers.values())
    # A proof in flight on a killed worker is retried once on a fresh one; only a proof
    # whose retry was killed too may come back as a crash.
    assert outcomes["crash"] <= 5, outcomes
    if pid is not None:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def test_hard_killed_service_leaves_no_repl_behind(script_file: Callable[[Any], str]) -> None:
    # --fork-child: the REPL runs as a grandchild, as under `lake env repl`.
    settings = service_settings(script_file(SCRIPT))
    settings["repl_command"] += " --fork-child"
    service = ServiceProcess(settings).start()
    body = {
        "snippets": [{"id": f"h{i}", "code": "-- standin:hang"} for i in range(4)],
        "timeout": 60,
    }

    def send() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(service.url + "/api/check", json=body, timeout=30)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    deadline = time.monotonic() + 60  # progress-bound: the loop ends as soon as all are up
    while (
        len(psutil.Process(service.pid).children(recursive=True)) < 12
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    children = psutil.Process(service.pid).children(recursive=True)
    assert len(children) >= 12  # 4 x (guard, REPL, the REPL's child)
    os.kill(service.pid, signal.SIGKILL)  # the service alone: its REPLs are in their own sessions
    service.proc.wait()  # type: ignore[union-attr]
    service.proc = None
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, "REPL processes outlived the service"


def test_bad_input_gets_clean_4xx(script_file: Callable[[Any], str]) -> None:
    settings = service_settings(script_file(SCRIPT), api_key="k", max_body_bytes=100_000)
    service = ServiceProcess(settings).start()
    auth = {"Authorization": "Bearer k"}
    try:
        bad = [
            (b"{", auth),
            (b"\xff\xfe\xfd", auth),
            (b"[]", auth),
            (b'{"snippets": "x"}', auth),
            (json.dumps({"snippets": [{"id": "a", "code": "x" * 200_000}]}).encode(), auth),
            (b'{"snippets": [{"id": "a", "code": "def a := 1"}]}', {"Authorization": "Bearer no"}),
            (b'{"snippets": [{"id": "a", "code": "def a := 1"}]}', {}),
        ]
        for body, headers in bad:
            for path in ("/api/check", "/api/verify", "/api/run"):
                response = httpx.post(
                    service.url + path,
                    content=body,
                    timeout=10,
                    headers={**headers, "Content-Type": "application/json"},
                )
                assert 400 <= response.status_code < 500, (path, body[:40], response.status_code)
        schemathesis = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                service.url + "/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "25",
                "--max-response-time",
                "10",
                "--header",
                "Authorization: Bearer k",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    finally:
        service.stop()
    assert schemathesis.returncode == 0, schemathesis.stdout[-3000:] + schemathesis.stderr[-2000:]
