"""The warm pool: header reuse, recycling, fault replacement, back-pressure, shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from stepprover.errors import PoolBusy, PoolClosed, ReplCrashed, ReplStartError, ReplTimeout
from stepprover.lean.pool import PoolConfig, ReplPool, default_worker_count
from stepprover.lean.protocol import CommandReply, CommandRequest
from tests.conftest import standin_pool_config, standin_processes
from tests.progress import PROGRESS_WAIT, until

MATHLIB = "import Mathlib"


def gone(pid: int) -> bool:
    """Exited (a zombie not yet reaped counts: it runs nothing)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def cmd(text: str) -> CommandRequest:
    return CommandRequest(cmd=text)


async def run_ok(
    pool: ReplPool, text: str, imports: str = MATHLIB, *, trusted: bool = True
) -> CommandReply:
    # the pool's mechanics: commands count as the verifier's unless a test says otherwise
    reply = await pool.run(imports, cmd(text), timeout=10, trusted=trusted)
    assert isinstance(reply, CommandReply)
    return reply


async def test_imports_run_once_per_worker_and_commands_use_their_env() -> None:
    async with ReplPool(standin_pool_config(workers=1)) as pool:
        replies = [await run_ok(pool, f"theorem t{i} : True := trivial") for i in range(3)]
        # env 0 is the imports; each command gets the next env, so the header ran exactly once.
        assert [r.env for r in replies] == [1, 2, 3]
        health = await pool.health()
        assert health.workers == 1 and health.served == 3


async def test_command_without_imports_runs_without_env() -> None:
    async with ReplPool(standin_pool_config(workers=1)) as pool:
        reply = await run_ok(pool, "def x := 1", imports="")
        assert reply.env == 0  # no warm-up command was sent


async def test_workers_are_keyed_by_imports_and_evicted_when_full() -> None:
    async with ReplPool(standin_pool_config(workers=1)) as pool:
        await run_ok(pool, "a")
        first = pool.worker_pids()
        await run_ok(pool, "b", imports="import Mathlib\nimport Aesop")
        assert pool.worker_pids() != first, "the other header needs its own worker"
        await run_ok(pool, "c", imports="import Mathlib\nimport Aesop")
        assert (await pool.health()).workers == 1


async def test_reordered_or_repeated_imports_share_one_worker() -> None:
    # Lean imports each module once, whatever the order: the same set is the same environment
    async with ReplPool(standin_pool_config(workers=1)) as pool:
        orders = ["import Mathlib\nimport Aesop", "import Aesop\nimport Mathlib"]
        await run_ok(pool, "theorem t : True := trivial", imports=orders[0])
        first = pool.worker_pids()
        for i in range(6):
            await run_ok(pool, f"theorem t{i} : True := trivial", imports=orders[i % 2])
        repeated = "import Aesop\nimport Mathlib\nimport Aesop"
        await run_ok(pool, "theorem u : True := trivial", imports=repeated)
        assert pool.worker_pids() == first, "one warm-up served every order"
        assert (await pool.health()).served == 8


async def test_recycles_after_max_commands_with_a_prewarmed_successor() -> None:
    config = standin_pool_config("--warmup", "0.2", workers=1, max_commands=5)
    async with ReplPool(config) as pool:
        pids = []
        for i in range(12):
            await run_ok(pool, f"t{i}")
            pids.append(pool.worker_pids())
        health = await pool.health()
        assert health.recycled >= 2
        assert len({tuple(p) for p in pids if p}) >= 3


async def test_recycles_when_rss_passes_the_soft_cap() -> None:
    config = standin_pool_config(
        "--grow-mb", "40", workers=1, max_commands=None, recycle_rss_mb=150
    )
    async with ReplPool(config) as pool:
        for i in range(8):
            await run_ok(pool, f"t{i}")
        assert (await pool.health()).recycled >= 1


async def test_timed_out_worker_is_replaced_while_others_serve() -> None:
    async with ReplPool(standin_pool_config("--warmup", "0.3", workers=2)) as pool:
        await pool.warm(MATHLIB)
        hang = asyncio.create_task(pool.run(MATHLIB, cmd("-- standin:hang"), timeout=1.0))
        started = time.monotonic()
        for i in range(5):
            await run_ok(pool, f"quick {i}")
        assert time.monotonic() - started < 0.9, "other requests were blocked by the hanging one"
        with pytest.raises(ReplTimeout):
            await hang
        await run_ok(pool, "after")
        health = await pool.health()
        assert health.replaced >= 1 and health.workers <= 2


async def test_crashed_worker_is_replaced() -> None:
    async with ReplPool(standin_pool_config(workers=1)) as pool:
        await run_ok(pool, "a")
        before = pool.worker_pids()
        with pytest.raises(ReplCrashed):
            await pool.run(MATHLIB, cmd("-- standin:crash"), timeout=5)
        await run_ok(pool, "b")
        assert pool.worker_pids() != before
        assert all(gone(p) for p in before)


async def test_bounded_queue_raises_pool_busy() -> None:
    config = standin_pool_config("--delay", "0.3", workers=1, max_queue=2)
    async with ReplPool(config) as pool:
        tasks = [asyncio.create_task(pool.run(MATHLIB, cmd(f"t{i}"), timeout=10)) for i in range(3)]
        # The first starts the only worker, the other two queue: the queue is full.
        await until(lambda: pool.snapshot().waiting == 2, "two requests queued")
        with pytest.raises(PoolBusy) as info:
            await pool.run(MATHLIB, cmd("one too many"), timeout=10)
        assert info.value.max_queue == 2
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert sum(isinstance(r, CommandReply) for r in results) == 3


async def test_refused_imports_raise_a_start_error() -> None:
    config = standin_pool_config(workers=1)
    script = [
        [
            "import Nonexistent",
            {
                "messages": [
                    {
                        "severity": "error",
                        "pos": {"line": 1, "column": 0},
                        "endPos": None,
                        "data": "unknown module",
                    }
                ]
            },
        ]
    ]
    import json
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(script, f)
    config = standin_pool_config("--script", f.name, workers=1)
    async with ReplPool(config) as pool:
        with pytest.raises(ReplStartError) as info:
            await pool.run("import Nonexistent", cmd("x"), timeout=5)
        assert info.value.refused
        assert (await pool.health()).starting == 0
        await run_ok(pool, "still serving")
    os.unlink(f.name)


async def test_health_drops_workers_that_died_while_idle() -> None:
    async with ReplPool(standin_pool_config(workers=2)) as pool:
        await pool.warm(MATHLIB)
        victim = pool.worker_pids()[0]
        os.killpg(victim, 9)
        await until(lambda: gone(victim), "the killed worker to exit")
        health = await pool.health()
        assert victim not in pool.worker_pids() and health.replaced >= 1
        await run_ok(pool, "fine")


@pytest.mark.parametrize("ending", ["normal", "timeout", "crash"])
async def test_close_leaves_no_child_process(ending: str) -> None:
    pool = ReplPool(
        standin_pool_config("--fork-child", "--warmup", "0.2", workers=2, max_commands=3)
    )
    await pool.warm(MATHLIB)
    for i in range(5):
        await run_ok(pool, f"t{i}")
    if ending == "timeout":
        with pytest.raises(ReplTimeout):
            await pool.run(MATHLIB, cmd("-- standin:hang"), timeout=0.3)
    elif ending == "crash":
        with pytest.raises(ReplCrashed):
            await pool.run(MATHLIB, cmd("-- standin:crash"), timeout=5)
    assert standin_processes()
    await pool.close()
    assert not psutil.Process().children(recursive=True)
    assert not standin_processes()
    with pytest.raises(PoolClosed):
        await pool.run(MATHLIB, cmd("x"), timeout=1)


async def test_close_while_requests_wait() -> None:
    pool = ReplPool(standin_pool_config("--delay", "0.5", workers=1))
    tasks = [asyncio.create_task(pool.run(MATHLIB, cmd(f"t{i}"), timeout=10)) for i in range(3)]
    await until(lambda: pool.snapshot().waiting == 2, "two requests queued behind the first")
    await pool.close()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, (PoolClosed, CommandReply)) for r in results)
    assert any(isinstance(r, PoolClosed) for r in results)


def test_default_worker_count_is_bounded_by_cores_and_memory() -> None:
    cores = os.cpu_count() or 2
    free_mb = psutil.virtual_memory().available / 2**20
    assert 1 <= default_worker_count(1.0) <= max(1, cores - 1)
    assert default_worker_count(free_mb * 10) == 1
    assert default_worker_count(6500) <= max(1, int((free_mb - 2048) // 6500), 1)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="workers"):
        PoolConfig(process=standin_pool_config().process, workers=0)


async def test_waiters_are_served_first_come_first_served() -> None:
    async with ReplPool(standin_pool_config("--delay", "0.02", workers=1)) as pool:
        await pool.warm(MATHLIB)
        done: list[tuple[int, int]] = []

        async def client(c: int) -> None:
            for r in range(4):
                await run_ok(pool, f"client {c} request {r}")
                done.append((c, r))

        await asyncio.gather(*(client(c) for c in range(4)))
    first_round_end = max(i for i, (_, r) in enumerate(done) if r == 0)
    third_round_start = min(i for i, (_, r) in enumerate(done) if r == 2)
    assert first_round_end < third_round_start, f"a client was starved: {done}"


async def test_a_worker_that_ran_code_the_prefilter_refuses_serves_nothing_after_it() -> None:
    # a sketch may run anything (`#eval` with IO, a background task writing to the REPL's
    # stdout later): the worker that ran it must not go on to verify proofs
    async with ReplPool(standin_pool_config(workers=1)) as pool:
        await run_ok(pool, "theorem t : True := by\n  sorry", trusted=False)  # a sketch as a proof
        first = pool.worker_pids()
        await run_ok(pool, "theorem u : True := trivial", trusted=False)
        assert pool.worker_pids() == first, "a sketch the prefilter accepts keeps its worker"
        await run_ok(pool, "#eval IO.println 1", trusted=False)
        await run_ok(pool, "theorem v : True := trivial", trusted=True)
        assert pool.worker_pids() != first, "the worker that ran #eval was retired"
        assert (await pool.health()).recycled == 1


async def test_the_verifiers_trusted_command_keeps_its_worker() -> None:
    async with ReplPool(standin_pool_config(workers=1)) as pool:
        await run_ok(pool, "theorem t : True := trivial\n\n#print axioms t", trusted=True)
        first = pool.worker_pids()
        await run_ok(pool, "theorem u : True := trivial", trusted=True)
        assert pool.worker_pids() == first


async def test_imports_outside_the_search_path_are_refused_before_a_worker_starts() -> None:
    async with ReplPool(standin_pool_config(workers=1)) as pool:
        with pytest.raises(ReplStartError) as refused:
            await pool.run(
                "import «..».«..».tmp.evil", cmd("theorem t : True := trivial"), timeout=10
            )
        assert refused.value.refused and pool.worker_pids() == []
        await run_ok(pool, "theorem t : True := trivial", imports="import Mathlib.Tactic")


async def test_until_free_waits_for_a_free_worker(tmp_path: Path) -> None:
    """The re-check of a timeout under saturation waits on this (an event, not polling)."""
    pid_file = tmp_path / "pid"
    async with ReplPool(standin_pool_config(workers=1)) as pool:
        hung = f"-- standin:pid-to={pid_file}\n-- standin:hang"
        blocker = asyncio.create_task(pool.run(MATHLIB, cmd(hung), timeout=300))
        await until(pid_file.exists, "the only worker to take the request")
        waiter = asyncio.create_task(pool.until_free())
        for _ in range(5):
            await asyncio.sleep(0)  # let it run: it must keep waiting while the worker hangs
        assert pool.snapshot().saturated and not waiter.done()
        os.kill(int(pid_file.read_text()), signal.SIGKILL)  # ends the request; a worker warms
        with pytest.raises(ReplCrashed):
            await blocker
        await asyncio.wait_for(waiter, PROGRESS_WAIT)  # a hang guard, not a timing bound
        assert not pool.snapshot().saturated


AESOP = "import Mathlib\nimport Aesop"


async def alternate(pool: ReplPool, clients: int, checks: int) -> None:
    """``clients`` concurrent clients, ``checks`` in all, the i-th check under header i % 2."""
    numbers = iter(range(checks))

    async def client() -> None:
        for i in numbers:
            await run_ok(pool, f"theorem t{i} : True := trivial", (MATHLIB, AESOP)[i % 2])

    await asyncio.gather(*(client() for _ in range(clients)))


async def test_alternating_headers_start_few_repls_beyond_the_warm_up() -> None:
    # Two import blocks, four workers: once each block holds its share, a check of one
    # block waits for that block's workers instead of evicting the other's idle worker
    # (which started a REPL, an `import Mathlib`, for about every other check).
    async with ReplPool(standin_pool_config("--delay", "0.002", workers=4)) as pool:
        await alternate(pool, clients=16, checks=100)  # warm-up: the workers settle
        warm = (await pool.health()).started
        await alternate(pool, clients=16, checks=600)
        health = await pool.health()
    assert health.served == 700
    assert health.started - warm <= 4, f"{health.started - warm} REPLs started for 600 checks"


async def test_a_block_without_traffic_gives_its_workers_up_when_another_waits() -> None:
    async with ReplPool(standin_pool_config(workers=2)) as pool:
        await pool.warm(MATHLIB)
        mathlib_workers = set(pool.worker_pids())
        await alternate(pool, clients=1, checks=1)  # a Mathlib check: no REPL starts
        assert set(pool.worker_pids()) == mathlib_workers
        # Only Aesop traffic now: as Mathlib's share of the recent checks falls, its idle
        # workers are given up to Aesop checks that wait, until Aesop holds the pool.
        numbers = iter(range(40))

        async def aesop_client() -> None:
            for i in numbers:
                await run_ok(pool, f"a{i}", AESOP)

        await asyncio.gather(*(aesop_client() for _ in range(8)))
        assert not set(pool.worker_pids()) & mathlib_workers
        assert (await pool.health()).workers == 2
