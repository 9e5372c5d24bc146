"""Bad input to the service gets a 4xx or that item's own answer, never a 500, and never
costs the batch's other items; kimina-lean-server's clients work unchanged (the pinned
kimina-client 0.2.1 where it has the call). The REPL is the stand-in, not Lean."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stepprover.cli.serve import started_line
from tests.conftest import STANDIN
from tests.server.conftest import free_port, running_service, standin_settings
from tests.server.test_service import SCRIPT, import_kimina_client

JSON = {"Content-Type": "application/json"}
GOOD = "import Mathlib\ntheorem t : True := good_proof"


def post_raw(url: str, path: str, raw: str) -> httpx.Response:
    """Post text as JSON as it is written (NaN and "\\ud800" escapes are valid to Python's
    parser)."""
    return httpx.post(url + path, content=raw.encode(), headers=JSON, timeout=60)


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/api/check", '{"snippets": [{"id": "a", "code": "def a := 1"}], "timeout": NaN}'),
        ("/api/check", '{"snippets": [{"id": "a", "code": "def a := 1"}], "timeout": Infinity}'),
        ("/api/check", '{"snippets": [{"id": NaN, "code": "def a := 1"}]}'),
        ("/api/check", '{"snippets": [{"id": "\\ud800", "code": "def a := 1"}]}'),
        (
            "/api/verify",
            '{"proofs": [{"id": "a", "code": "theorem t : True := trivial"}], "timeout": NaN}',
        ),
        ("/api/verify", '{"proofs": [{"id": NaN, "code": "theorem t : True := trivial"}]}'),
        ("/api/verify", '{"proofs": [{"id": "\\udfff", "code": "theorem t : True := trivial"}]}'),
        ("/api/run", '{"cmd": "def a := 1", "timeout": NaN}'),
        ("/api/run", '{"cmd": "def a := \\ud800"}'),
        ("/verify", '{"codes": [{"custom_id": NaN, "proof": "def a := 1"}]}'),
        ("/verify", '{"codes": [{"custom_id": "a", "proof": "def a := 1"}], "timeout": NaN}'),
    ],
)
def test_nan_and_bad_ids_get_422_with_a_readable_body(path: str, raw: str) -> None:
    with running_service(standin_settings()) as url:
        response = post_raw(url, path, raw)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]  # strict JSON: the echoed input made writable
        assert detail and all("loc" in d for d in detail)
        assert httpx.get(url + "/health").json()["status"] == "ok"


@pytest.mark.parametrize(("path", "key"), [("/api/check", "snippets"), ("/api/verify", "proofs")])
def test_duplicate_ids_get_422(path: str, key: str) -> None:
    body = {key: [{"id": "a", "code": "def a := 1"}, {"id": "a", "code": "def b := 1"}]}
    with running_service(standin_settings()) as url:
        response = httpx.post(url + path, json=body, timeout=60)
    assert response.status_code == 422, response.text
    assert f"`{key}` must have unique ids" in response.text


@pytest.mark.parametrize("ids", [["a", "a"], [1, "1"], [7, 7]])
def test_duplicate_custom_ids_of_the_legacy_verify_get_422(ids: list[Any]) -> None:
    # Kimina's /verify answers each code by custom_id, as a string: 1 and "1" are one id.
    body = {"codes": [{"custom_id": i, "proof": f"def a{n} := 1"} for n, i in enumerate(ids)]}
    with running_service(standin_settings()) as url:
        response = httpx.post(url + "/verify", json=body, timeout=60)
    assert response.status_code == 422, response.text
    assert "unique custom_ids" in response.text


def test_refused_imports_are_the_snippets_own_answer_not_infrastructure(
    script_file: Callable[[Any], str],
) -> None:
    """Imports that name no plain module (refused before any REPL starts) or that Lean
    refuses are the snippet's fault: status ``refused``, tried once, never labelled an
    infrastructure fault (which clients retry)."""
    unknown = {
        "messages": [
            {
                "severity": "error",
                "pos": {"line": 1, "column": 0},
                "endPos": None,
                "data": "unknown module prefix 'Nonexistent'",
            }
        ]
    }
    settings = standin_settings("--script", script_file([["import Nonexistent", unknown]]))
    odd, lean_refused = (
        "import «..».«..».tmp.x\n x",
        "import Nonexistent\ntheorem t : True := trivial",
    )
    with running_service(settings) as url:
        check = httpx.post(
            url + "/api/check",
            timeout=60,
            json={"snippets": [{"id": "odd", "code": odd}, {"id": "lean", "code": lean_refused}]},
        ).json()["results"]
        legacy = httpx.post(
            url + "/verify", timeout=60, json={"codes": [{"custom_id": "odd", "proof": odd}]}
        ).json()["results"]
        run = httpx.post(
            url + "/api/run", timeout=60, json={"imports": "garbage here", "cmd": "x"}
        ).json()
        verify = httpx.post(
            url + "/api/verify",
            timeout=60,
            json={"proofs": [{"id": "odd", "code": odd}, {"id": "lean", "code": lean_refused}]},
        ).json()["results"]
    for result in check:
        assert (result["status"], result["attempts"]) == ("refused", 1), result
        assert "imports were refused" in result["error"] and "infrastructure" not in result["error"]
    assert (
        "not a plain module name" in check[0]["error"]
        and "unknown module prefix" in check[1]["error"]
    )
    assert (
        "imports were refused" in legacy[0]["error"] and "infrastructure" not in legacy[0]["error"]
    )
    assert run["status"] == "refused" and run["imports_refused"] is True
    assert "not a plain module name" in run["error"]
    assert [r["verdict"]["outcome"] for r in verify] == ["rejected", "lean_error"], verify


def test_a_lone_surrogate_in_code_is_that_items_answer(script_file: Callable[[Any], str]) -> None:
    script = script_file(SCRIPT)
    with running_service(standin_settings("--script", script)) as url:
        check = post_raw(
            url,
            "/api/check",
            json.dumps(
                {
                    "snippets": [
                        {"id": "good", "code": "def a := 1"},
                        {"id": "bad", "code": "def a := \ud800"},
                    ]
                }
            ),
        )
        assert check.status_code == 200, check.text
        results = {r["id"]: r for r in check.json()["results"]}
        assert results["good"]["response"] == {"env": 0} and results["good"]["status"] == "ok"
        assert (
            "not valid Unicode" in results["bad"]["error"] and "U+D800" in results["bad"]["error"]
        )
        assert results["bad"]["status"] is None  # it never reached the REPL

        verify = post_raw(
            url,
            "/api/verify",
            json.dumps(
                {
                    "proofs": [
                        {"id": "good", "code": GOOD},
                        {"id": "bad-code", "code": GOOD + " -- \udc80"},
                        {
                            "id": "bad-statement",
                            "code": GOOD,
                            "statement": "theorem t : True \ud800:= by",
                        },
                    ]
                }
            ),
        )
        assert verify.status_code == 200, verify.text
        verdicts = {r["id"]: r["verdict"] for r in verify.json()["results"]}
        assert verdicts["good"]["outcome"] == "proved"
        assert verdicts["bad-code"]["outcome"] == "rejected"
        assert "the proof is not valid Unicode" in verdicts["bad-code"]["reason"]
        assert verdicts["bad-statement"]["outcome"] == "rejected"
        assert "the statement is not valid Unicode" in verdicts["bad-statement"]["reason"]

        legacy = post_raw(
            url,
            "/verify",
            json.dumps(
                {
                    "codes": [
                        {"custom_id": 1, "proof": "def a := 1"},
                        {"custom_id": 2, "proof": "\ud800"},
                    ]
                }
            ),
        )
        assert legacy.status_code == 200
        items = legacy.json()["results"]
        assert "response" in items[0] and "not valid Unicode" in items[1]["error"]


def test_a_batch_the_queue_can_never_hold_gets_413_with_the_limit() -> None:
    with running_service(standin_settings(workers=1, max_queue=2)) as url:

        def snippets(n: int) -> list[dict[str, str]]:
            return [{"id": f"s{i}", "code": f"def a{i} := 1"} for i in range(n)]

        too_many = httpx.post(url + "/api/check", json={"snippets": snippets(4)}, timeout=60)
        assert too_many.status_code == 413, too_many.text
        assert too_many.json()["limit"] == 3 and "3" in too_many.json()["detail"]
        assert "Retry-After" not in too_many.headers  # retrying cannot help
        proofs = [{"id": f"p{i}", "code": "theorem t : True := trivial"} for i in range(4)]
        assert (
            httpx.post(url + "/api/verify", json={"proofs": proofs}, timeout=60).status_code == 413
        )
        codes = [{"custom_id": i, "proof": "def a := 1"} for i in range(4)]
        assert httpx.post(url + "/verify", json={"codes": codes}, timeout=60).status_code == 413
        fits = httpx.post(url + "/api/check", json={"snippets": snippets(3)}, timeout=60)
        assert fits.status_code == 200 and len(fits.json()["results"]) == 3


# An error on the snippet's 5th line, as Lean reports it for the body the REPL is sent
# (the two import lines removed): body line 3.
POSITIONED = "import Mathlib\nimport Aesop\n\ntheorem t : True := by\n  bad_proof\n"
AT = {"line": 3, "column": 2}
UNTIL = {"line": 3, "column": 11}
POSITIONED_SCRIPT = [
    [
        "bad_proof",
        {
            "messages": [
                {
                    "severity": "error",
                    "pos": AT,
                    "endPos": UNTIL,
                    "data": "unknown identifier 'bad_proof'",
                }
            ],
            "sorries": [{"pos": AT, "endPos": UNTIL, "goal": "⊢ True", "proofState": 0}],
        },
    ],
    ["*", {}],
]


@pytest.mark.parametrize("path", ["/api/check", "/api/verify"])
def test_a_body_over_the_limit_gets_413_streamed_or_declared(path: str) -> None:
    """A chunked body (no Content-Length) is counted as it streams in: 413 with the limit,
    as for a declared one, never FastAPI's 400 "error parsing the body"."""
    key = "snippets" if path == "/api/check" else "proofs"
    huge = json.dumps({key: [{"id": "x", "code": "x" * 20_000}]}).encode()
    small = json.dumps({key: [{"id": "x", "code": "def x := 1"}]}).encode()

    def chunked(data: bytes) -> Iterator[bytes]:  # a generator body: httpx sends it chunked
        for start in range(0, len(data), 1000):
            yield data[start : start + 1000]

    with running_service(standin_settings(max_body_bytes=10_000)) as url:
        declared = httpx.post(url + path, content=huge, headers=JSON, timeout=60)
        streamed = httpx.post(url + path, content=chunked(huge), headers=JSON, timeout=60)
        fits = httpx.post(url + path, content=chunked(small), headers=JSON, timeout=60)
    assert "content-length" not in streamed.request.headers
    assert streamed.request.headers["transfer-encoding"] == "chunked"
    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        assert response.json()["limit"] == 10_000
    assert fits.status_code == 200, fits.text  # a body under the limit is replayed whole


def test_positions_refer_to_the_snippet_as_sent(
    script_file: Callable[[Any], str], tmp_path: Path
) -> None:
    kimina = import_kimina_client()
    log = tmp_path / "requests.jsonl"
    settings = standin_settings("--script", script_file(POSITIONED_SCRIPT), "--log", str(log))
    with running_service(settings) as url:
        result = (
            kimina.KiminaClient(api_url=url, n_retries=1)
            .check([kimina.Snippet(id="p", code=POSITIONED)], timeout=30, show_progress=False)
            .results[0]
        )
        legacy = httpx.post(
            url + "/verify", json={"codes": [{"custom_id": "p", "proof": POSITIONED}]}, timeout=60
        ).json()["results"][0]
    sent = [json.loads(json.loads(line))["cmd"] for line in log.read_text().splitlines()]
    assert "\ntheorem t : True := by\n  bad_proof\n" in sent  # the REPL saw the body alone
    for response in (result.response, legacy["response"]):
        message, sorry = response["messages"][0], response["sorries"][0]
        assert message["pos"] == {"line": 5, "column": 2} and message["endPos"] == {
            "line": 5,
            "column": 11,
        }
        assert sorry["pos"]["line"] == 5 and sorry["endPos"]["line"] == 5
    assert POSITIONED.splitlines()[4].startswith("  bad_proof")  # line 5, column 2, as sent


def test_timeout_zero_is_accepted_as_kimina_client_allows(
    script_file: Callable[[Any], str],
) -> None:
    kimina = import_kimina_client()
    with running_service(standin_settings("--script", script_file(SCRIPT))) as url:
        client = kimina.KiminaClient(api_url=url, n_retries=1)
        result = client.check([kimina.Snippet(id="z", code=GOOD)], timeout=0, show_progress=False)
        assert (
            result.results[0].analyze().status.value == "valid"
        )  # run, with the service's maximum
        verify = httpx.post(
            url + "/api/verify",
            json={"proofs": [{"id": "z", "code": GOOD}], "timeout": 0},
            timeout=60,
        )
        assert verify.json()["results"][0]["verdict"]["outcome"] == "proved"


def test_kimina_legacy_verify_and_root_answer_as_kimina_serves_them(
    script_file: Callable[[Any], str],
) -> None:
    kimina = import_kimina_client()
    models = sys.modules["kimina_client.models"]
    body = models.VerifyRequestBody(
        codes=[
            models.Code(custom_id=7, proof=GOOD),
            models.Code(custom_id="by-code", code="import Mathlib\ntheorem t := bad_proof"),
            models.Code(custom_id="hang", proof="import Mathlib\n-- standin:hang"),
        ],
        timeout=3,
    ).model_dump(mode="json")
    with running_service(standin_settings("--script", script_file(SCRIPT))) as url:
        assert httpx.get(url + "/").json() == {"status": "ok"}
        response = httpx.post(url + "/verify", json=body, timeout=60)
        again = httpx.post(url + "/one_pass_verify_batch", json=body, timeout=60)
        assert kimina.KiminaClient(api_url=url, n_retries=1).health()["status"] == "ok"
    assert response.status_code == 200 and again.status_code == 200
    parsed = models.VerifyResponse.model_validate(response.json())
    by_id = {r["custom_id"]: r for r in parsed.results}
    assert set(by_id) == {"7", "by-code", "hang"}  # Kimina answers custom_id as a string
    assert set(by_id["7"]) == {"custom_id", "response"}
    assert list(by_id["7"]["response"])[-1] == "time" and "error" not in by_id["7"]
    assert by_id["by-code"]["response"]["messages"][0]["severity"] == "error"
    assert set(by_id["hang"]) == {"custom_id", "error"} and "timed out" in by_id["hang"]["error"]


def test_serve_prints_where_it_listens_workers_and_sandbox() -> None:
    port = free_port()
    env = {
        **os.environ,
        "STEPPROVER_SERVICE_REPL_COMMAND": f"{sys.executable} {STANDIN}",
        "STEPPROVER_SERVICE_WORKERS": "3",
        "STEPPROVER_SERVICE_SANDBOX": "false",
        "STEPPROVER_SERVICE_EXPECTED_WORKER_RSS_MB": "50",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "stepprover.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once it listens
        assert httpx.get(f"http://127.0.0.1:{port}/").json() == {"status": "ok"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert f"listening on http://127.0.0.1:{port}" in line
    assert "3 REPL workers" in line and "sandbox OFF" in line, line


def test_started_line_says_sandbox_on_and_auth() -> None:
    settings = standin_settings(sandbox=True, api_key="k")
    line = started_line(settings, "0.0.0.0:9000", 1)
    assert "http://0.0.0.0:9000" in line and "1 REPL worker;" in line
    assert "sandbox on" in line and "bearer token required" in line


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"STEPPROVER_SERVICE_WORKERS": "abc"},
            "STEPPROVER_SERVICE_WORKERS='abc': Input should be a valid integer",
        ),
        (
            {"STEPPROVER_SERVICE_REPL_COMMAND": "no-such-repl-xyz"},
            "STEPPROVER_SERVICE_REPL_COMMAND: cannot start REPL",
        ),
        (
            {"STEPPROVER_SERVICE_REPL_COMMAND": "'unbalanced"},
            "STEPPROVER_SERVICE_REPL_COMMAND is not a valid command line",
        ),
        (
            {
                "STEPPROVER_SERVICE_REPL_COMMAND": f"{sys.executable} {STANDIN}",
                "STEPPROVER_SERVICE_SANDBOX_USER": "0",
            },
            "STEPPROVER_SERVICE_SANDBOX_USER='0': give UID or UID:GID",
        ),
        ({}, "Lean is not set up; missing: "),
        (
            {
                "STEPPROVER_SERVICE_REPL_COMMAND": f"{sys.executable} /no/such/repl.py",
                "STEPPROVER_SERVICE_SANDBOX": "false",
            },
            "Lean could not be started: the REPL",
        ),
        (
            {
                "STEPPROVER_SERVICE_REPL_COMMAND": f"{sys.executable} relative/repl.py",
                "STEPPROVER_SERVICE_SANDBOX": "true",
            },
            "it runs in the sandbox, which hides /tmp",
        ),
        # settings that would make the service useless, each named by its own variable
        (
            {"STEPPROVER_SERVICE_MAX_TIMEOUT": "0"},
            "STEPPROVER_SERVICE_MAX_TIMEOUT='0': Input should be greater than 0",
        ),
        (
            {"STEPPROVER_SERVICE_MAX_TIMEOUT": "-5"},
            "STEPPROVER_SERVICE_MAX_TIMEOUT='-5': Input should be greater than 0",
        ),
        (
            {"STEPPROVER_SERVICE_MAX_TIMEOUT": "nan"},
            "STEPPROVER_SERVICE_MAX_TIMEOUT='nan': Input should be a finite number",
        ),
        (
            {"STEPPROVER_SERVICE_MAX_RSS_MB": "-1"},
            "STEPPROVER_SERVICE_MAX_RSS_MB='-1': Input should be greater than 0",
        ),
        (
            {"STEPPROVER_SERVICE_SANDBOX_MEMORY_MB": "-1"},
            "STEPPROVER_SERVICE_SANDBOX_MEMORY_MB='-1': Input should be greater",
        ),
        (
            {"STEPPROVER_SERVICE_SANDBOX_PROCESSES": "0"},
            "STEPPROVER_SERVICE_SANDBOX_PROCESSES='0': Input should be greater",
        ),
        (
            {"STEPPROVER_SERVICE_IDEMPOTENCY_CACHE": "-1"},
            "STEPPROVER_SERVICE_IDEMPOTENCY_CACHE='-1': Input should be greater",
        ),
        (
            {"STEPPROVER_SERVICE_MAX_QUEUE": "-1"},
            "STEPPROVER_SERVICE_MAX_QUEUE='-1': Input should be greater",
        ),
        (
            {"STEPPROVER_SERVICE_MAX_BODY_BYTES": "-1"},
            "STEPPROVER_SERVICE_MAX_BODY_BYTES='-1': Input should be greater",
        ),
        (
            {"STEPPROVER_SERVICE_WORKERS": "0"},
            "STEPPROVER_SERVICE_WORKERS='0': Input should be greater than or equal to 1",
        ),
        (
            {"STEPPROVER_SERVICE_MAX_COMMANDS_PER_WORKER": "0"},
            "STEPPROVER_SERVICE_MAX_COMMANDS_PER_WORKER='0':"
            " Input should be greater than or equal to 1",
        ),
        (
            {"STEPPROVER_SERVICE_MAX_RSS_MB": "2000", "STEPPROVER_SERVICE_RECYCLE_RSS_MB": "3000"},
            "STEPPROVER_SERVICE_RECYCLE_RSS_MB (3000)"
            " must be below STEPPROVER_SERVICE_MAX_RSS_MB (2000)",
        ),
    ],
)
def test_serve_refuses_to_start_with_one_line_when_it_could_start_no_repl(
    env: dict[str, str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from stepprover.cli import app

    monkeypatch.setenv("STEPPROVER_SERVICE_LEAN_DIR", str(tmp_path))  # an empty folder: no Lean
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if env.get("STEPPROVER_SERVICE_SANDBOX") == "true" and not shutil.which("bwrap"):
        pytest.skip("needs bubblewrap (.ci/run installs it)")
    result = CliRunner().invoke(app, ["serve", "--port", str(free_port())])
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.split()) and "Traceback" not in result.output
    assert "listening" not in result.output


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_serve_refuses_a_port_out_of_range_with_a_usage_error(port: str) -> None:
    from typer.testing import CliRunner

    from stepprover.cli import app

    result = CliRunner().invoke(app, ["serve", "--port", port])
    assert result.exit_code == 2, result.output
    assert "--port" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("variable", ["STEPPROVER_SERVICE_SANDBOX_USER", "STEPPROVER_SANDBOX_USER"])
def test_a_sandbox_user_is_not_read_with_the_sandbox_off(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stepprover.cli.serve import settings_or_exit

    monkeypatch.setenv(variable, "0")  # refused with the sandbox on (see above)
    monkeypatch.setenv("STEPPROVER_SERVICE_SANDBOX", "false")
    monkeypatch.setenv("STEPPROVER_SERVICE_WORKERS", "1")
    monkeypatch.setenv("STEPPROVER_SERVICE_REPL_COMMAND", f"{sys.executable} {STANDIN}")
    settings = settings_or_exit()
    assert settings.pool_config().process.prefix == ()


def test_health_is_503_unavailable_while_no_repl_can_start(tmp_path: Path) -> None:
    from stepprover.server.settings import ServiceSettings

    missing = tmp_path / "no-such-repl"
    settings = ServiceSettings(
        repl_command=str(missing),
        workers=1,
        sandbox=False,
        expected_worker_rss_mb=50,
        max_rss_mb=2000,
    )
    with running_service(settings) as url:
        before = httpx.get(url + "/health")
        checked = httpx.post(
            url + "/api/check", json={"snippets": [{"id": "a", "code": "def a := 1"}]}, timeout=60
        ).json()["results"][0]
        after = httpx.get(url + "/health")
        root = httpx.get(url + "/")
        missing.write_text(f"#!/bin/sh\nexec {sys.executable} {STANDIN}\n")  # Lean is back
        missing.chmod(0o755)
        again = httpx.post(
            url + "/api/check", json={"snippets": [{"id": "b", "code": "def b := 1"}]}, timeout=60
        ).json()["results"][0]
        healed = httpx.get(url + "/health")
    assert before.status_code == 200 and before.json()["status"] == "ok"  # nothing tried yet
    assert checked["status"] == "infrastructure"
    assert after.status_code == 503 and after.json()["status"] == "unavailable"
    assert "cannot start REPL" in after.json()["last_start_error"]
    assert root.status_code == 503 and root.json() == {"status": "unavailable"}
    assert again["status"] == "ok", again
    assert healed.status_code == 200 and healed.json()["last_start_error"] is None


def test_health_is_503_when_the_repl_exits_before_its_first_answer(tmp_path: Path) -> None:
    """Without imports there is no warm-up to fail: a REPL that exits at once spawns fine,
    then dies before reading the snippet. That is a start failure, not a healthy pool."""
    repl = tmp_path / "exits-at-once"
    repl.write_text("#!/bin/sh\necho 'standin: no Lean here' >&2\nexit 1\n")
    repl.chmod(0o755)
    settings = standin_settings(repl_command=str(repl), workers=1)
    with running_service(settings) as url:
        checked = httpx.post(
            url + "/api/check", json={"snippets": [{"id": "a", "code": "def a := 1"}]}, timeout=60
        ).json()["results"][0]
        after = httpx.get(url + "/health")
        repl.write_text(f"#!/bin/sh\nexec {sys.executable} {STANDIN}\n")  # Lean is back
        honest = "theorem b : True := trivial"  # a `def` would retire its worker (prefilter)
        again = httpx.post(
            url + "/api/check", json={"snippets": [{"id": "b", "code": honest}]}, timeout=60
        ).json()["results"][0]
        healed = httpx.get(url + "/health")
    assert checked["status"] == "infrastructure", checked
    assert "exited before answering its first request (return code 1)" in checked["error"]
    assert after.status_code == 503 and after.json()["status"] == "unavailable", after.json()
    assert "exited before answering its first request" in after.json()["last_start_error"]
    assert "no Lean here" in after.json()["last_start_error"]
    assert again["status"] == "ok", again
    assert healed.status_code == 200 and healed.json()["last_start_error"] is None
    assert healed.json()["ready"] == 1
