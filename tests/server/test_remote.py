"""The HTTP client (`RemoteLean`): the same answers as the local pool, retries, idempotency."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from stepprover.agent.loop import LoopConfig, TirAgent
from stepprover.agent.trajectory import Finish
from stepprover.data.problems import Problem
from stepprover.errors import LeanUnavailable, ReplCrashed, ReplTimeout
from stepprover.lean.protocol import CommandReply, CommandRequest
from stepprover.lean.remote import RemoteLean
from stepprover.models.scripted import ScriptedGenerator
from tests.server.conftest import running_service, standin_settings

AXIOMS = {"severity": "info", "pos": {"line": -2, "column": 0}, "endPos": None,
          "data": "'t' does not depend on any axioms"}
TYPE = {"severity": "info", "pos": {"line": -3, "column": 0}, "endPos": None, "data": "@t : True"}
SCRIPT = [["sorry\n\nset_option pp.all", {"messages": [{**TYPE, "pos": {"line": -2, "column": 0}}]}],
          ["-- final", {"messages": [TYPE, AXIOMS]}], ["*", {}]]


async def test_remote_run_and_check_through_the_service(script_file: Callable[[Any], str]) -> None:
    with running_service(standin_settings("--script", script_file(SCRIPT))) as url:
        remote = RemoteLean(url)
        try:
            reply = await remote.run("import Mathlib", CommandRequest(cmd="def x := 1"), 10)
            assert isinstance(reply, CommandReply) and reply.env == 1
            with pytest.raises(ReplTimeout) as timeout:
                await remote.run("import Mathlib", CommandRequest(cmd="-- standin:hang"), 0.5)
            assert timeout.value.elapsed >= 0.5
            with pytest.raises(ReplCrashed) as crash:
                await remote.run("import Mathlib", CommandRequest(cmd="-- standin:crash"), 5)
            assert crash.value.first_stderr_line == "standin: crash requested\n"
            verdict = await remote.check("import Mathlib\ntheorem t : True := by\n  trivial -- final",
                                         statement="import Mathlib\ntheorem t : True := by")
            assert verdict.proved, verdict.reason
            assert (await remote.health())["status"] == "ok"
        finally:
            await remote.close()


async def test_tir_loop_over_the_service(tokenizer: Any, script_file: Callable[[Any], str]) -> None:
    problem = Problem(name="t", header="import Mathlib\n\n", formal_statement="theorem t : True := by\n")
    turns = ["<sketch>theorem t : True := trivial</sketch>",
             "</think>\n```lean4\ntheorem t : True := by\n  trivial -- final\n```"]
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
    answers = iter([httpx.Response(503), httpx.Response(429, headers={"Retry-After": "0"}),
                    httpx.Response(200, json={"results": [{"id": "0", "verdict": {"outcome": "proved"}}]})])

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
    with pytest.raises(LeanUnavailable, match="401"):
        await remote.check("x")
    await remote.close()
    assert calls == 1
    dead = RemoteLean("http://127.0.0.1:9", retries=2, backoff=0.001)
    with pytest.raises(LeanUnavailable, match="3 attempts"):
        await dead.run("", CommandRequest(cmd="x"), 1)
    await dead.close()


async def test_run_results_come_back_as_the_local_exceptions() -> None:
    from stepprover.errors import ReplError, ReplMemoryExceeded
    from stepprover.lean.protocol import parse_reply
    from stepprover.lean.run_result import RunResult

    async def raises(exc: Exception) -> Any:
        raise exc

    async def answers() -> Any:
        return parse_reply('{"messages": [], "env": 3}')

    cases = {
        "timeout": ReplTimeout(timeout=1.0, elapsed=1.25),
        "exit": ReplCrashed(returncode=3, stderr_tail="first line\nsecond\n"),
        "memory": ReplMemoryExceeded(rss_mb=16000.5, limit_mb=15360, stderr_tail="noise"),
    }
    back = {}
    for name, exc in cases.items():
        wire = RunResult.model_validate_json((await RunResult.of(raises(exc))).model_dump_json())
        with pytest.raises(ReplError) as info:
            wire.reply_or_raise(1.0)
        back[name] = info.value
    assert isinstance(back["timeout"], ReplTimeout) and back["timeout"].elapsed == 1.25
    assert isinstance(back["exit"], ReplCrashed) and back["exit"].first_stderr_line == "first line\n"
    assert not isinstance(back["memory"], ReplCrashed)
    assert back["memory"].summary == "Memory usage (16000.50MB) exceeded limit (15360MB)"
    ok = (await RunResult.of(answers())).reply_or_raise(1.0)
    assert isinstance(ok, CommandReply) and ok.raw == {"messages": [], "env": 3}
