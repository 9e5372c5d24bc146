"""The HTTP client (`RemoteLean`): the same answers as the local pool, retries, idempotency."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from stepprover.agent.loop import LoopConfig, TirAgent
from stepprover.agent.trajectory import Finish
from stepprover.data.problems import Problem
from stepprover.errors import RemoteError, RemoteUnreachable, ReplCrashed, ReplTimeout
from stepprover.lean.backend import LeanBackend
from stepprover.lean.outcome import CommandOutcome, CommandStatus
from stepprover.lean.protocol import CommandReply, parse_reply
from stepprover.lean.remote import RemoteLean
from stepprover.models.scripted import ScriptedGenerator
from tests.fakes.endless_http import endless_http_server
from tests.progress import until
from tests.server.conftest import running_service, standin_settings

AXIOMS = {
    "severity": "info",
    "pos": {"line": -2, "column": 0},
    "endPos": None,
    "data": "'t' does not depend on any axioms",
}
TYPE = {"severity": "info", "pos": {"line": -3, "column": 0}, "endPos": None, "data": "@t : True"}
SCRIPT = [
    ["sorry\n\nset_option pp.all", {"messages": [{**TYPE, "pos": {"line": -2, "column": 0}}]}],
    ["-- final", {"messages": [TYPE, AXIOMS]}],
    ["*", {}],
]


async def test_remote_run_and_check_through_the_service(script_file: Callable[[Any], str]) -> None:
    with running_service(standin_settings("--script", script_file(SCRIPT))) as url:
        remote = RemoteLean(url)
        try:
            ok = await remote.run_command("import Mathlib", "def x := 1", 10)
            assert ok.ok and isinstance(ok.parsed, CommandReply) and ok.parsed.env == 1
            timeout = await remote.run_command("import Mathlib", "-- standin:hang", 0.5)
            assert timeout.status is CommandStatus.TIMEOUT and timeout.elapsed >= 0.5
            crash = await remote.run_command("import Mathlib", "-- standin:crash", 5)
            assert crash.status is CommandStatus.CRASH and crash.exited
            assert crash.first_stderr_line == "standin: crash requested\n"
            verdict = await remote.check(
                "import Mathlib\ntheorem t : True := by\n  trivial -- final",
                statement="import Mathlib\ntheorem t : True := by",
            )
            assert verdict.proved, verdict.reason
            assert (await remote.health())["status"] == "ok"
        finally:
            await remote.close()


async def test_tir_loop_over_the_service(tokenizer: Any, script_file: Callable[[Any], str]) -> None:
    problem = Problem(
        name="t", header="import Mathlib\n\n", formal_statement="theorem t : True := by\n"
    )
    turns = [
        "<sketch>theorem t : True := trivial</sketch>",
        "</think>\n```lean4\ntheorem t : True := by\n  trivial -- final\n```",
    ]
    with running_service(standin_settings("--script", script_file(SCRIPT))) as url:
        remote = RemoteLean(url)
        try:
            agent = TirAgent(ScriptedGenerator(tokenizer, turns), remote, remote, LoopConfig())
            traj = await agent.run(problem)
        finally:
            await remote.close()
    assert traj.finish is Finish.ANSWERED and traj.solved, (traj.error, traj.verdict)
    assert traj.repl_calls[0].feedback == "\n<REPL>\n{}\n</REPL>"


async def test_retries_keep_the_idempotency_key() -> None:
    seen: list[tuple[int, str | None]] = []
    answers = iter(
        [
            httpx.Response(503),
            httpx.Response(429, headers={"Retry-After": "0"}),
            httpx.Response(200, json={"results": [{"id": "0", "verdict": {"outcome": "proved"}}]}),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((len(seen), request.headers.get("Idempotency-Key")))
        return next(answers)

    remote = RemoteLean("http://test", transport=httpx.MockTransport(handler), backoff=0.001)
    verdict = await remote.check("theorem t : True := trivial")
    await remote.close()
    assert verdict.proved and len(seen) == 3
    assert len({key for _, key in seen}) == 1 and seen[0][1]


async def test_client_errors_are_not_retried_and_dead_servers_give_up() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(401, json={"detail": "missing or wrong bearer token"})

    remote = RemoteLean("http://test", transport=httpx.MockTransport(handler))
    with pytest.raises(RemoteError, match="401"):
        await remote.check("x")
    await remote.close()
    assert calls == 1
    dead = RemoteLean("http://127.0.0.1:9", retries=2, backoff=0.001)
    with pytest.raises(RemoteUnreachable, match="3 attempts"):
        await dead.check("theorem t : True := trivial")
    unreachable = await dead.run_command("", "x", 1)
    await dead.close()
    assert unreachable.status is CommandStatus.INFRASTRUCTURE and "3 attempts" in unreachable.error


async def test_an_outcome_crosses_the_wire_unchanged() -> None:
    from stepprover.errors import PoolClosed, ReplMemoryExceeded, ReplStartError

    async def raises(exc: Exception) -> Any:
        raise exc

    async def answers() -> Any:
        return parse_reply('{"messages": [], "env": 3}')

    cases = {
        "timeout": ReplTimeout(timeout=1.0, elapsed=1.25),
        "exit": ReplCrashed(returncode=3, stderr_tail="first line\nsecond\n"),
        "memory": ReplMemoryExceeded(rss_mb=16000.5, limit_mb=15360, stderr_tail="noise"),
        "no start": ReplStartError("cannot start REPL ['lake']: not found"),
        "refused": ReplStartError("warm-up 'import Foo' failed", refused=True),
        "closed": PoolClosed("the REPL pool is closed"),
    }
    back = {}
    for name, exc in cases.items():
        sent = await CommandOutcome.of(raises(exc))
        back[name] = CommandOutcome.model_validate_json(sent.model_dump_json())
        assert back[name] == sent
    assert back["timeout"].status is CommandStatus.TIMEOUT and back["timeout"].elapsed == 1.25
    assert back["exit"].status is CommandStatus.CRASH and back["exit"].exited
    assert back["exit"].first_stderr_line == "first line\n"
    assert back["memory"].status is CommandStatus.CRASH and not back["memory"].exited
    assert back["memory"].error == "Memory usage (16000.50MB) exceeded limit (15360MB)"
    assert {back[k].status for k in ("no start", "closed")} == {CommandStatus.INFRASTRUCTURE}
    assert back["refused"].status is CommandStatus.REFUSED  # the imports' fault: never retried
    assert back["refused"].imports_refused and not back["no start"].imports_refused
    assert (
        '"imports_refused":true'
        in (await CommandOutcome.of(raises(cases["refused"]))).model_dump_json()
    )
    ok = CommandOutcome.model_validate_json((await CommandOutcome.of(answers())).model_dump_json())
    assert (
        ok.ok
        and isinstance(ok.parsed, CommandReply)
        and ok.parsed.raw == {"messages": [], "env": 3}
    )


async def test_the_service_reports_a_closed_pool_as_infrastructure_not_a_crash(
    script_file: Callable[[Any], str],
) -> None:
    from stepprover.lean.pool import ReplPool
    from stepprover.server.app import create_app
    from tests.conftest import standin_pool_config

    pool = ReplPool(standin_pool_config("--script", script_file(SCRIPT)))
    await pool.close()
    app = create_app(standin_settings(), pool=pool)
    async with app.router.lifespan_context(app):
        remote = RemoteLean("http://test", transport=httpx.ASGITransport(app=app))
        try:
            outcome = await remote.run_command("import Mathlib", "def x := 1", 5)
        finally:
            await remote.close()
    assert outcome.status is CommandStatus.INFRASTRUCTURE and "closed" in outcome.error


async def test_service_backend_rechecks_a_final_timeout_that_waited_behind_a_saturated_pool(
    script_file: Callable[[Any], str], tmp_path: Path
) -> None:
    flag = tmp_path / "hung"
    proof = f"theorem t : True := by\n  trivial -- final -- standin:hang-once={flag}"
    with running_service(standin_settings("--script", script_file(SCRIPT), workers=1)) as url:
        async with LeanBackend(None, url).open() as (repl, verifier):
            blocker = asyncio.create_task(repl.run_command("", "-- standin:sleep=1", 5))

            async def saturated() -> bool:
                return bool((await repl.pool_health()).busy >= 1)  # type: ignore[attr-defined]

            await until(saturated, "the only worker to be busy: the pool is saturated")
            verdict = await verifier.check(proof, timeout=0.5)
            await blocker
    assert flag.exists() and verdict.proved and verdict.attempts == 2, verdict


async def test_a_proof_of_another_statement_is_rejected_over_http(
    script_file: Callable[[Any], str],
) -> None:
    from stepprover.lean.verify import Outcome
    from tests.lean.test_verify import SCRIPT as VERIFY_SCRIPT
    from tests.lean.test_verify import STATEMENT, proof

    other = proof("norm_num -- case_other_type")  # Lean prints another type for t1
    with running_service(standin_settings("--script", script_file(VERIFY_SCRIPT))) as url:
        remote = RemoteLean(url)
        try:
            rejected = await remote.check(other, statement=STATEMENT)
            unchecked = await remote.check(other)
        finally:
            await remote.close()
    assert rejected.outcome is Outcome.REJECTED, rejected
    assert "does not prove the given statement" in rejected.reason
    assert unchecked.proved, "without the statement the same proof passes: the statement was sent"


@pytest.mark.parametrize(
    ("code", "statement", "reason"),
    [
        (b"theorem t : True := by\n  trivial -- caf\xe9", None, "not UTF-8 text"),
        ("theorem t : True := by\n  trivial -- \ud800", None, "lone surrogate U+D800"),
        (
            b"theorem t : True := by\n  trivial",
            "theorem t : True := by -- \udfff",
            "the statement is not valid Unicode",
        ),
    ],
)
async def test_text_no_encoder_takes_is_a_verdict_as_from_the_service_and_the_cli(
    script_file: Callable[[Any], str], code: str | bytes, statement: str | None, reason: str
) -> None:
    with running_service(standin_settings("--script", script_file(SCRIPT))) as url:
        remote = RemoteLean(url)
        try:
            verdict = await remote.check(code, statement=statement)
        finally:
            await remote.close()
        # the service itself, sent the same text as JSON escapes
        text = code.decode("utf-8", "surrogateescape") if isinstance(code, bytes) else code
        raw = json.dumps({"proofs": [{"id": "a", "code": text, "statement": statement}]})
        async with httpx.AsyncClient() as client:
            response = await client.post(
                url + "/api/verify",
                content=raw.encode(),
                headers={"Content-Type": "application/json"},
            )
        served = response.json()["results"][0]["verdict"]
    assert verdict.outcome.value == "rejected" and reason in verdict.reason
    assert served["outcome"] == "rejected"


@pytest.mark.parametrize("path", ["/chunked", "/declared"])
async def test_an_endless_answer_is_read_against_the_limit(path: str) -> None:
    async with endless_http_server() as (url, sent):
        remote = RemoteLean(url + path, retries=1, backoff=0, max_response_bytes=2**20)
        try:
            with pytest.raises(RemoteUnreachable, match=r"body over 1048576 bytes"):
                await remote.check("theorem t : True := by\n  trivial")
            with pytest.raises(RemoteUnreachable, match=r"body over 1048576 bytes"):
                await remote.preflight()
        finally:
            await remote.close()
    assert sent["bytes"] < 64 * 2**20  # it stopped reading, and the server stopped sending
