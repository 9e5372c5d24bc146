"""The verification service end to end over HTTP on 127.0.0.1 (the REPL is the stand-in)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.conftest import running_service, standin_settings

SORRY = {
    "sorries": [
        {
            "proofState": 0,
            "pos": {"line": 1, "column": 20},
            "goal": "⊢ False",
            "endPos": {"line": 1, "column": 25},
        }
    ],
    "messages": [
        {
            "severity": "warning",
            "pos": {"line": 1, "column": 8},
            "endPos": {"line": 1, "column": 9},
            "data": "declaration uses 'sorry'",
        }
    ],
}
ERROR = {
    "messages": [
        {
            "severity": "error",
            "pos": {"line": 1, "column": 0},
            "endPos": {"line": 1, "column": 3},
            "data": "unknown identifier 'foo'",
        }
    ]
}
AXIOMS = {
    "severity": "info",
    "pos": {"line": -2, "column": 0},
    "endPos": None,
    "data": "'t' does not depend on any axioms",
}
SCRIPT = [
    ["bad_proof", ERROR],
    ["sorry_proof", SORRY],
    ["good_proof", {"messages": [AXIOMS]}],
    ["*", {}],
]


def import_kimina_client() -> Any:
    """kimina-client 0.2.1 takes TypedDict from `typing` when it has NotRequired (3.11+), which
    pydantic refuses before Python 3.12; load it through its own fallback (typing_extensions)."""
    import sys
    import typing

    import typing_extensions

    if sys.version_info >= (3, 12) or "kimina_client" in sys.modules:
        import kimina_client

        return kimina_client
    original = typing.TypedDict
    typing.TypedDict = typing_extensions.TypedDict  # type: ignore[misc]
    try:
        import kimina_client
    finally:
        typing.TypedDict = original  # type: ignore[misc]
    return kimina_client


def test_kimina_client_works_unchanged(script_file: Callable[[Any], str]) -> None:
    kimina = import_kimina_client()
    KiminaClient, Snippet = kimina.KiminaClient, kimina.Snippet

    with running_service(standin_settings("--script", script_file(SCRIPT))) as url:
        client = KiminaClient(api_url=url, n_retries=1)
        assert client.health()["status"] == "ok"
        snippets = [
            Snippet(id="ok", code="import Mathlib\ntheorem t : True := trivial"),
            Snippet(id="bad", code="import Mathlib\ntheorem t := bad_proof"),
            Snippet(id="sorry", code="import Mathlib\ntheorem t : False := sorry_proof"),
            Snippet(id="hang", code="import Mathlib\n-- standin:hang"),
            Snippet(id="crash", code="import Mathlib\n-- standin:crash"),
        ]
        result = client.check(snippets, timeout=2, show_progress=False, batch_size=5)
        status = {r.id: r.analyze().status.value for r in result.results}
    assert status == {
        "ok": "valid",
        "bad": "lean_error",
        "sorry": "sorry",
        "hang": "timeout_error",
        "crash": "server_error",
    }


def test_native_verify_with_idempotency(script_file: Callable[[Any], str]) -> None:
    with running_service(standin_settings("--script", script_file(SCRIPT))) as url:
        body = {
            "proofs": [
                {"id": "a", "code": "import Mathlib\ntheorem t : True := good_proof"},
                {"id": "b", "code": "import Mathlib\ntheorem t : True := bad_proof"},
            ]
        }
        first = httpx.post(
            url + "/api/verify", json=body, headers={"Idempotency-Key": "k1"}, timeout=30
        )
        assert first.status_code == 200
        outcomes = {r["id"]: r["verdict"]["outcome"] for r in first.json()["results"]}
        assert outcomes == {"a": "proved", "b": "lean_error"}
        before = httpx.get(url + "/metrics").text
        again = httpx.post(
            url + "/api/verify", json=body, headers={"Idempotency-Key": "k1"}, timeout=30
        )
        assert again.json() == first.json()
        assert httpx.get(url + "/metrics").text.count('outcome="proved"') == before.count(
            'outcome="proved"'
        )
        metrics = httpx.get(url + "/metrics").text
        assert 'stepprover_outcomes_total{outcome="proved"} 1.0' in metrics
        assert (
            "stepprover_queue_depth" in metrics and "stepprover_request_seconds_bucket" in metrics
        )


def test_an_idempotency_key_is_bound_to_its_request_content(
    script_file: Callable[[Any], str],
) -> None:
    # A retry of the same proofs (in other JSON spelling) gets the first answer; the key used
    # again for other proofs is refused, never answered with the first body's verdicts.
    good = {"proofs": [{"id": "a", "code": "import Mathlib\ntheorem t : True := good_proof"}]}
    sorry = {"proofs": [{"id": "a", "code": "import Mathlib\ntheorem t : False := sorry_proof"}]}
    key = {"Idempotency-Key": "k1", "Content-Type": "application/json"}
    with running_service(standin_settings("--script", script_file(SCRIPT))) as url:
        first = httpx.post(url + "/api/verify", json=good, headers=key, timeout=30)
        assert first.json()["results"][0]["verdict"]["outcome"] == "proved"
        spelled_otherwise = json.dumps(good, indent=2).encode()
        retry = httpx.post(url + "/api/verify", content=spelled_otherwise, headers=key, timeout=30)
        assert retry.json() == first.json()
        reused = httpx.post(url + "/api/verify", json=sorry, headers=key, timeout=30)
        assert reused.status_code == 422, reused.text
        assert "Idempotency-Key was used for a request with other content" in reused.text
        fresh = httpx.post(
            url + "/api/verify", json=sorry, headers={**key, "Idempotency-Key": "k2"}, timeout=30
        )
        assert fresh.json()["results"][0]["verdict"]["outcome"] != "proved"


def test_an_idempotency_key_is_bound_to_the_callers_api_key(
    script_file: Callable[[Any], str],
) -> None:
    from stepprover.server.app import _idempotency_scope

    class Asked:  # what the scope reads of a request: its headers
        def __init__(self, **headers: str) -> None:
            self.headers = {k.replace("_", "-"): v for k, v in headers.items()}

    same_key = {"Idempotency_Key": "k1"}
    caller_one, caller_two = (
        Asked(Authorization="Bearer one", **same_key),
        Asked(Authorization="Bearer two", **same_key),
    )
    one = _idempotency_scope(caller_one, "one")  # type: ignore[arg-type]
    two = _idempotency_scope(caller_two, "one")  # type: ignore[arg-type]
    assert one is not None and one != two
    # No key required: there is no caller to tell apart (the content binding still holds).
    assert _idempotency_scope(Asked(Authorization="Bearer one", **same_key), None) == (
        _idempotency_scope(Asked(**same_key), None)  # type: ignore[arg-type]
    )


def test_auth_limits_and_bad_input() -> None:
    settings = standin_settings(api_key="s3cret", max_body_bytes=10_000)
    with running_service(settings) as url:
        body = {"snippets": [{"id": "x", "code": "import Mathlib\ndef x := 1"}]}
        assert httpx.post(url + "/api/check", json=body).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert httpx.post(url + "/api/check", json=body, headers=wrong).status_code == 401
        good = {"Authorization": "Bearer s3cret"}
        assert (
            httpx.post(url + "/api/check", json=body, headers=good, timeout=30).status_code == 200
        )
        huge = {"snippets": [{"id": "x", "code": "x" * 20_000}]}
        assert httpx.post(url + "/api/check", json=huge, headers=good).status_code == 413
        for raw in [
            b"{not json",
            b"\xff\xfe\x00",
            b'{"snippets": []}',
            b'{"snippets": 5}',
            b'{"snippets": [{"id": "a", "code": "x"}, {"id": "a", "code": "y"}]}',
        ]:
            response = httpx.post(
                url + "/api/check",
                content=raw,
                timeout=10,
                headers={**good, "Content-Type": "application/json"},
            )
            assert 400 <= response.status_code < 500, (raw, response.status_code)
        assert httpx.get(url + "/openapi.json").json()["paths"]["/api/check"]


def test_full_queue_answers_429_with_retry_after() -> None:
    with running_service(standin_settings("--delay", "0.5", workers=1, max_queue=2)) as url:

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=30) as client:
                body = {"snippets": [{"id": "x", "code": "def x := 1"}]}
                return await asyncio.gather(
                    *(client.post(url + "/api/check", json=body) for _ in range(8))
                )

        responses = asyncio.run(burst())
    codes = sorted(r.status_code for r in responses)
    assert 200 in codes and 429 in codes
    assert all(r.headers.get("Retry-After") for r in responses if r.status_code == 429)


def test_cancelled_request_frees_its_worker() -> None:
    with running_service(standin_settings(workers=1)) as url:
        body = {"snippets": [{"id": "x", "code": "-- standin:hang"}], "timeout": 60}
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url + "/api/check", json=body, timeout=1.0)
        deadline = time.monotonic() + 60  # progress-bound: ends as soon as the worker is replaced
        while httpx.get(url + "/health").json()["replaced"] < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert httpx.get(url + "/health").json()["replaced"] >= 1
        # Had the hang kept the only worker, this would wait for its 60 s timeout (and the
        # client give up at 30 s): a reply at all shows the worker was freed.
        ok = httpx.post(
            url + "/api/check", json={"snippets": [{"id": "y", "code": "def y := 1"}]}, timeout=30
        )
        assert ok.status_code == 200 and ok.json()["results"][0]["response"] == {"env": 0}


def test_sandbox_blocks_network_writes_and_fork_bombs(
    tmp_path: Path, sandbox_standin: Path
) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    import uuid

    # A folder outside /tmp that the sandbox user could write to: only the sandbox may stop it.
    target_dir = Path("/var/tmp") / f"stepprover-escape-{uuid.uuid4().hex}"
    target_dir.mkdir(mode=0o777)
    target_dir.chmod(0o777)
    outside = target_dir / "escape.txt"
    settings = standin_settings(
        python="/usr/bin/python3", script=str(sandbox_standin), sandbox=True, sandbox_processes=64
    )
    code = f"-- standin:try-socket={port}\n-- standin:try-write={outside}\n-- standin:try-fork=500"
    try:
        with running_service(settings) as url:
            body = {"snippets": [{"id": "probe", "code": code}], "timeout": 60}
            result = httpx.post(url + "/api/check", json=body, timeout=90).json()["results"][0]
            report = result["response"]["messages"][0]["data"]
            tmp_probe = {
                "snippets": [{"id": "tmp", "code": "-- standin:try-write=/tmp/inside.txt"}]
            }
            inside = httpx.post(url + "/api/check", json=tmp_probe, timeout=30).json()
            still = httpx.post(
                url + "/api/check",
                json={"snippets": [{"id": "z", "code": "def z := 1"}]},
                timeout=30,
            )
    finally:
        listener.close()
        escaped = outside.exists()
        outside.unlink(missing_ok=True)
        target_dir.rmdir()
    assert not escaped
    assert "socket: connected" not in report and "socket: " in report
    assert "write: OSError" in report or "write: PermissionError" in report, report
    started, refused = (
        int(n) for n in report.split("fork: ")[1].replace(" started,", "").split()[:2]
    )
    assert refused > 0 and started < 500, report
    assert "write: ok" in inside["results"][0]["response"]["messages"][0]["data"]
    assert still.status_code == 200


def test_health_and_docs() -> None:
    with running_service(standin_settings()) as url:
        health = httpx.get(url + "/health").json()
        assert health["status"] == "ok" and health["size"] == 2
        assert httpx.get(url + "/docs").status_code == 200
        assert json.loads(httpx.get(url + "/openapi.json").text)["info"]["title"]
