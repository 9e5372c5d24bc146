"""One REPL process: limits, faults and clean kills, against the stand-in REPL."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psutil
import pytest

from stepprover.errors import (
    ReplCrashed,
    ReplMemoryExceeded,
    ReplProtocolError,
    ReplStartError,
    ReplTimeout,
)
from stepprover.lean.process import ProcessConfig, ReplProcess
from stepprover.lean.protocol import CommandReply, CommandRequest, encode_request
from tests.conftest import standin_command
from tests.progress import PROGRESS_WAIT, until


async def spawn(*args: str, **config: object) -> ReplProcess:
    return await ReplProcess.spawn(ProcessConfig(command=standin_command(*args), **config))  # type: ignore[arg-type]


def cmd(text: str) -> CommandRequest:
    return CommandRequest(cmd=text)


async def test_round_trip_and_stats() -> None:
    repl = await spawn()
    try:
        first = await repl.send(cmd("import Mathlib"), 5)
        second = await repl.send(CommandRequest(cmd="def x := 1", env=0), 5)
        assert isinstance(first, CommandReply) and first.env == 0
        assert isinstance(second, CommandReply) and second.env == 1
        assert repl.stats.requests == 2 and repl.alive
    finally:
        await repl.close()
    assert not repl.alive


async def test_timeout_kills_the_process_group() -> None:
    repl = await spawn()
    started = time.monotonic()
    with pytest.raises(ReplTimeout) as info:
        await repl.send(cmd("-- standin:hang"), 0.5)
    assert time.monotonic() - started >= 0.5  # (no upper bound: a busy machine may take long)
    assert info.value.timeout == 0.5 and info.value.elapsed >= 0.5
    gone = not repl.alive and not psutil.pid_exists(repl.pid)
    assert gone or psutil.Process(repl.pid).status() == "zombie"
    with pytest.raises(ReplTimeout):  # a dead process keeps reporting why it died
        await repl.send(cmd("x"), 1)
    await repl.close()


async def test_crash_reports_stderr() -> None:
    repl = await spawn()
    with pytest.raises(ReplCrashed) as info:
        await repl.send(cmd("-- standin:crash"), 5)
    assert info.value.returncode == 3
    assert info.value.first_stderr_line == "standin: crash requested\n"
    await repl.close()


async def test_exit_mid_reply_is_a_crash_not_a_hang() -> None:
    repl = await spawn()
    with pytest.raises(ReplCrashed):
        await repl.send(cmd("-- standin:exit-mid-reply"), 5)
    await repl.close()


@pytest.mark.parametrize("marker", ["garbage", "bad-utf8"])
async def test_garbage_is_a_protocol_error(marker: str) -> None:
    repl = await spawn()
    with pytest.raises(ReplProtocolError):
        await repl.send(cmd(f"-- standin:{marker}"), 5)
    assert not repl.alive
    await repl.close()


async def test_five_megabyte_single_line_reply() -> None:
    repl = await spawn()
    try:
        reply = await repl.send(cmd("-- standin:big-reply=5"), 10)
        assert isinstance(reply, CommandReply)
        assert len(reply.messages[0].data) == 5 * 1024 * 1024
    finally:
        await repl.close()


async def test_reply_over_the_size_limit_is_refused() -> None:
    repl = await spawn(max_reply_bytes=1024 * 1024)
    with pytest.raises(ReplProtocolError, match="max_reply_bytes"):
        await repl.send(cmd("-- standin:big-reply=3"), 10)
    await repl.close()


async def test_kill_returns_though_an_unread_reply_stopped_the_reading() -> None:
    """A reply left unread (too long, or cut off by a timeout) fills asyncio's stdout buffer,
    which then stops reading the pipe and would never see its end; asyncio's wait() waits
    for every pipe to close, so kill() hung (the overlong-reply test, now and then, when the
    machine was busy). The state is set up here directly, as it arises under load."""
    repl = await spawn()
    stdout = repl._proc._transport.get_pipe_transport(1)  # type: ignore[attr-defined]
    await repl._write(encode_request(cmd("-- standin:big-reply=3")))
    await until(lambda: not stdout.is_reading(), "asyncio to stop reading a full buffer")
    await asyncio.wait_for(repl.kill(), PROGRESS_WAIT)  # a hang guard, not a timing bound
    assert not repl.alive
    await repl.close()


async def test_stderr_flood_neither_blocks_nor_grows_memory() -> None:
    repl = await spawn()
    try:
        reply = await repl.send(cmd("-- standin:stderr-flood=8"), 20)
        assert isinstance(reply, CommandReply)
        assert "standin stderr noise" in repl.stderr_tail
        assert len(repl.stderr_tail) <= 128 * 1024
    finally:
        await repl.close()


async def test_slow_answers_within_the_timeout_succeed() -> None:
    repl = await spawn("--delay", "0.3")
    try:
        assert isinstance(await repl.send(cmd("x"), 30), CommandReply)
    finally:
        await repl.close()


async def test_memory_cap_kills_mid_request_counting_forked_children() -> None:
    # The child holds the memory, as under `lake exe repl`: only the tree sum sees it.
    repl = await spawn("--fork-child", max_rss_mb=150, rss_poll_interval=0.05)
    try:
        await repl.send(cmd("import Mathlib"), 5)
        # Killed mid-request: at the 600 s timeout it would be a ReplTimeout instead.
        with pytest.raises(ReplMemoryExceeded) as info:
            await repl.send(cmd("-- standin:grow=300\n-- standin:sleep=600"), 600)
        assert info.value.rss_mb > 150 and info.value.limit_mb == 150
    finally:
        await repl.close()


async def test_cancelled_request_kills_the_process(tmp_path: Path) -> None:
    repl = await spawn()
    pid_file = tmp_path / "pid"
    task = asyncio.create_task(repl.send(cmd(f"-- standin:pid-to={pid_file}\n-- standin:hang"), 60))
    await until(pid_file.exists, "the stand-in to read the request")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not repl.alive
    await repl.close()


async def test_command_that_cannot_start() -> None:
    with pytest.raises(ReplStartError):
        await ReplProcess.spawn(ProcessConfig(command=["/nonexistent/repl"]))


async def test_prefix_wraps_the_command() -> None:
    repl = await ReplProcess.spawn(
        ProcessConfig(command=standin_command(), prefix=["env", "STANDIN_DELAY=0"])
    )
    try:
        assert isinstance(await repl.send(cmd("x"), 5), CommandReply)
        (repl_root,) = psutil.Process(repl.pid).children()  # under the guard
        assert repl_root.environ().get("STANDIN_DELAY") == "0"  # `env` ran, then the stand-in
    finally:
        await repl.close()


async def test_whole_process_faults_by_flag() -> None:
    repl = await spawn("--crash-after", "2")
    await repl.send(cmd("a"), 5)
    await repl.send(cmd("b"), 5)
    with pytest.raises(ReplCrashed):
        await repl.send(cmd("c"), 5)
    await repl.close()
    repl = await spawn("--hang")
    with pytest.raises(ReplTimeout):
        await repl.send(cmd("a"), 0.3)
    await repl.close()


@pytest.mark.slow
async def test_warmup_delay_applies_to_the_first_command_only() -> None:
    repl = await spawn("--warmup", "10")
    try:
        started = time.monotonic()
        await repl.send(cmd("import Mathlib"), 300)
        assert time.monotonic() - started >= 10
        # The next command does not wait out the warm-up again: 9 s is less than the warm-up
        # (and ample for an answer on a busy machine).
        await repl.send(cmd("x"), 9)
    finally:
        await repl.close()


async def test_stopping_a_helper_task_keeps_a_cancellation_of_the_caller() -> None:
    """Ctrl-C cancels the command's task; if that lands while it stops a helper task (the
    memory watchdog after every request, the stderr reader on close), the cancellation must
    not be swallowed, or the command goes on to wait out its proof's whole timeout."""
    from stepprover.lean.process import cancel_and_wait

    stopping, release = asyncio.Event(), asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            stopping.set()
            await release.wait()  # still stopping when the caller is cancelled

    helper = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    caller = asyncio.create_task(cancel_and_wait(helper))
    await stopping.wait()
    caller.cancel()  # Ctrl-C, in the middle of the helper's stop
    release.set()  # the helper's stop ends: a caller that swallowed the cancel would return
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.wait({helper})
