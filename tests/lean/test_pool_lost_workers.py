"""Workers lost to something else than the command (the REPL is the stand-in, not Lean):
dead before use, exited between requests, killed from outside; and the soft recycle
threshold that keeps workers clear of the hard memory cap."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import psutil
import pytest

from stepprover.lean.outcome import CommandStatus
from stepprover.lean.pool import RECYCLE_FRACTION, PoolConfig, ReplPool
from stepprover.lean.process import ProcessConfig
from tests.conftest import standin_command, standin_pool_config
from tests.progress import until

MATHLIB = "import Mathlib"


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_a_worker_found_dead_before_use_is_replaced_before_any_request() -> None:
    async with ReplPool(standin_pool_config(workers=1)) as pool:
        assert (await pool.run_command(MATHLIB, "theorem a : True := trivial", timeout=30)).ok
        (dead,) = pool._idle
        os.kill(dead.process.pid, signal.SIGKILL)  # killed while idle, from outside
        deadline = time.monotonic() + 60
        while not gone(dead.process.pid) and time.monotonic() < deadline:
            time.sleep(0.01)  # noqa: ASYNC251 - no await on purpose: asyncio must not notice the exit
        sent: list[Any] = []
        original = dead.process.send_raw

        async def spy(payload: bytes, timeout: float) -> str:  # noqa: ASYNC109 - see SketchRepl
            sent.append(payload)
            return await original(payload, timeout)

        dead.process.send_raw = spy  # type: ignore[method-assign]
        outcome = await pool.run_command(MATHLIB, "theorem b : True := trivial", timeout=30)
        assert outcome.ok and outcome.reply == {"env": 1}  # a fresh worker: imports are env 0
        assert sent == []  # nothing was given to the dead worker
        assert (await pool.health()).replaced >= 1


async def test_a_repl_exiting_between_requests_is_said_so_and_never_blamed_on_the_command() -> None:
    # Each stand-in exits right after its warm-up reply: no request is ever read.
    async with ReplPool(standin_pool_config("--crash-after", "1", workers=1)) as pool:
        outcome = await pool.run_command(MATHLIB, "theorem a : True := trivial", timeout=30)
    assert outcome.status is CommandStatus.INFRASTRUCTURE
    assert "exited between requests (return code 5), before reading this one" in outcome.error
    assert "mid-request" not in outcome.error


async def test_a_repl_exiting_between_requests_is_replaced_and_the_request_resent() -> None:
    # Each stand-in exits after its second reply (warm-up + one command): every request is
    # the next one for some worker that is about to go, yet each is answered.
    async with ReplPool(standin_pool_config("--crash-after", "2", workers=1)) as pool:
        outcomes = [await pool.run_command(MATHLIB, f"def a{i} := 1", timeout=30) for i in range(6)]
        replaced = (await pool.health()).replaced
    assert [o.status for o in outcomes] == [CommandStatus.OK] * 6, [o.error for o in outcomes]
    assert replaced >= 5


async def test_the_commands_own_crash_stays_a_crash_mid_request() -> None:
    async with ReplPool(standin_pool_config(workers=1)) as pool:
        outcome = await pool.run_command(MATHLIB, "-- standin:crash", timeout=30)
    assert outcome.status is CommandStatus.CRASH
    assert "exited mid-request (return code 3)" in outcome.error


async def test_a_worker_killed_from_outside_mid_request_is_infrastructure(tmp_path: Any) -> None:
    import asyncio

    pid_file = tmp_path / "pid"
    async with ReplPool(standin_pool_config(workers=1)) as pool:
        task = asyncio.ensure_future(
            pool.run_command(MATHLIB, f"-- standin:pid-to={pid_file}\n-- standin:hang", timeout=300)
        )
        await until(pid_file.exists, "the worker to write its pid")
        os.kill(int(pid_file.read_text()), signal.SIGTERM)
        outcome = await task
    assert outcome.status is CommandStatus.INFRASTRUCTURE
    assert "killed from outside by SIGTERM mid-request (return code -15)" in outcome.error


def test_the_recycle_threshold_follows_the_cap_and_is_settable() -> None:
    def config(cap: float | None, recycle: float | None = None) -> PoolConfig:
        return PoolConfig(
            process=ProcessConfig(command=standin_command(), max_rss_mb=cap),
            workers=1,
            recycle_rss_mb=recycle,
        )

    assert config(200).recycle_threshold_mb == RECYCLE_FRACTION * 200
    assert config(15_360).recycle_threshold_mb == RECYCLE_FRACTION * 15_360
    assert config(200, recycle=120).recycle_threshold_mb == 120
    assert config(None).recycle_threshold_mb is None
    assert config(None, recycle=500).recycle_threshold_mb == 500
    with pytest.raises(ValueError, match="must be below the hard RSS cap"):
        config(200, recycle=200)


def test_the_service_reads_the_recycle_threshold_from_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from stepprover.server.settings import ServiceSettings

    monkeypatch.setenv("STEPPROVER_SERVICE_REPL_COMMAND", "python3 standin.py")
    monkeypatch.setenv("STEPPROVER_SERVICE_SANDBOX", "false")
    monkeypatch.setenv("STEPPROVER_SERVICE_MAX_RSS_MB", "1000")
    assert ServiceSettings().pool_config().recycle_threshold_mb == 800
    monkeypatch.setenv("STEPPROVER_SERVICE_RECYCLE_RSS_MB", "300")
    assert ServiceSettings().pool_config().recycle_threshold_mb == 300
    monkeypatch.setenv("STEPPROVER_SERVICE_RECYCLE_RSS_MB", "1000")
    with pytest.raises(
        ValueError, match=r"RECYCLE_RSS_MB .* must be below STEPPROVER_SERVICE_MAX_RSS_MB"
    ):
        ServiceSettings()


async def test_a_repl_that_exits_at_once_is_an_infrastructure_fault() -> None:
    # `true` exits before we look at its pipes: asyncio may have closed stdin already.
    for _ in range(10):
        async with ReplPool(PoolConfig(process=ProcessConfig(command=["true"]), workers=1)) as pool:
            outcome = await pool.run_command(MATHLIB, "theorem a : True := trivial", timeout=30)
        assert outcome.status is CommandStatus.INFRASTRUCTURE, outcome
        assert "warm-up 'import Mathlib' failed" in outcome.error


async def test_close_while_a_replacement_is_being_spawned_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A replacement whose pipes are not yet connected when close() cancels it (a loaded
    # machine): asyncio's own clean-up of that spawn kills only the guard and then waits,
    # forever, for pipes the REPL's surviving child holds (--fork-child, as under lake).
    import asyncio

    pool = ReplPool(standin_pool_config("--fork-child", workers=1))
    try:
        assert (await pool.run_command(MATHLIB, "theorem a : True := trivial", timeout=30)).ok
        loop = asyncio.get_running_loop()
        connect = loop.connect_write_pipe
        entered, release = asyncio.Event(), asyncio.Event()

        async def held(*args: Any, **kwargs: Any) -> Any:
            entered.set()
            await release.wait()
            return await connect(*args, **kwargs)

        monkeypatch.setattr(loop, "connect_write_pipe", held)
        (worker,) = pool._idle
        os.killpg(worker.process.pid, signal.SIGKILL)  # lost while idle, from outside
        await until(lambda: not worker.process.alive, "the killed worker to be seen dead")
        await pool.health()  # drops it and starts its replacement, which meets `held`
        await entered.wait()
        await until(  # the replacement's REPL and its child are up
            lambda: any(len(c.children(recursive=True)) >= 2 for c in _guards()),
            "the replacement's REPL and its child",
        )
        closing = asyncio.ensure_future(pool.close())
        for _ in range(20):  # let the cancellation reach the spawn before its pipes connect
            await asyncio.sleep(0)
        release.set()
        done, _ = await asyncio.wait({closing}, timeout=60)
        assert done, "close() never returned: it waits on a cancelled spawn"
    finally:
        release.set()
        monkeypatch.undo()
    assert not pool._processes


def _guards() -> list[psutil.Process]:
    """The REPL guards this test process started that are still running."""
    found = []
    for child in psutil.Process().children():
        try:
            if any(part.endswith("guard.py") for part in child.cmdline()):
                found.append(child)
        except psutil.Error:
            pass
    return found
