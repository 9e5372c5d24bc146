"""Pool overhead, throughput under recycling, and RSS capping, against the stand-in REPL.

The stand-in (tests/fakes/standin_repl.py) is a test program, not Lean: these
figures measure the pool's own machinery. Run: python benchmarks/pool_overhead.py
(``--quick``: a few dozen checks each, recycling every 10 commands and at a 150 MB cap, the
same assertions, no figures worth reading; what CI runs)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import psutil
from _repo import REPO

from stepprover.lean.pool import PoolConfig, ReplPool
from stepprover.lean.process import ProcessConfig
from stepprover.lean.protocol import CommandRequest, encode_request

STANDIN = [sys.executable, str(REPO / "tests" / "fakes" / "standin_repl.py")]
IMPORTS = "import Mathlib"


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and its descendants (0 if it is gone)."""
    try:
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20
    except psutil.Error:
        return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def raw_latencies(n: int) -> list[float]:
    """Write to and read from one stand-in process directly, no pool."""
    proc = await asyncio.create_subprocess_exec(
        *STANDIN, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=2**26
    )
    assert proc.stdin is not None and proc.stdout is not None
    out = []
    for i in range(n + 1):
        payload = encode_request(CommandRequest(cmd=f"theorem t{i} : True := trivial", env=0))
        started = time.perf_counter()
        proc.stdin.write(payload)
        await proc.stdin.drain()
        await proc.stdout.readuntil(b"\n\n")
        if i:  # the first answer is the warm-up
            out.append(time.perf_counter() - started)
    proc.kill()
    await proc.wait()
    return out


async def pool_latencies(n: int) -> list[float]:
    config = PoolConfig(
        process=ProcessConfig(command=STANDIN), workers=1, expected_worker_rss_mb=50
    )
    out = []
    async with ReplPool(config) as pool:
        await pool.warm(IMPORTS)
        for i in range(n):
            started = time.perf_counter()
            await pool.run(IMPORTS, CommandRequest(cmd=f"theorem t{i} : True := trivial"), 10)
            out.append(time.perf_counter() - started)
    return out


async def overhead(n: int) -> None:
    raw = await raw_latencies(n)
    pooled = await pool_latencies(n)
    ms = 1000
    print(f"[1] instant stand-in, {n} sequential checks")
    print(
        f"    raw process : p50 {percentile(raw, 0.5) * ms:.3f} ms  "
        f"p99 {percentile(raw, 0.99) * ms:.3f} ms"
    )
    print(
        f"    pool        : p50 {percentile(pooled, 0.5) * ms:.3f} ms  "
        f"p99 {percentile(pooled, 0.99) * ms:.3f} ms"
    )
    print(
        f"    overhead    : p50 {(percentile(pooled, 0.5) - percentile(raw, 0.5)) * ms:.3f} ms  "
        f"p99 {(percentile(pooled, 0.99) - percentile(raw, 0.99)) * ms:.3f} ms (target p50 < 1 ms)"
    )


async def throughput(checks: int, clients: int, max_commands: int) -> None:
    config = PoolConfig(
        process=ProcessConfig(command=[*STANDIN, "--delay", "0.05", "--warmup", "0.5"]),
        workers=4,
        max_commands=max_commands,
        expected_worker_rss_mb=50,
    )
    ideal = 4 / 0.05
    async with ReplPool(config) as pool:
        await pool.warm(IMPORTS)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(checks):
            queue.put_nowait(i)

        async def client() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                await pool.run(IMPORTS, CommandRequest(cmd=f"theorem t{i} : True := trivial"), 30)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
        health = await pool.health()
    rate = checks / elapsed
    assert health.served >= checks and health.recycled >= checks // max_commands - 4, health
    print(
        f"[2] 50 ms/check, 500 ms warm-up, 4 workers recycled every {max_commands} commands, "
        f"{checks} checks"
    )
    print(
        f"    throughput {rate:.1f} checks/s of ideal {ideal:.0f}; ratio: {rate / ideal:.3f} "
        f"(target >= 0.95); workers recycled: {health.recycled}"
    )


async def memory_cap(checks: int, cap: float, growth: float) -> None:
    config = PoolConfig(
        process=ProcessConfig(
            command=[*STANDIN, "--grow-mb", str(growth)], max_rss_mb=cap + 4 * growth
        ),
        workers=4,
        max_commands=None,
        recycle_rss_mb=cap,
        expected_worker_rss_mb=50,
    )
    peak = 0.0
    async with ReplPool(config) as pool:
        done = False

        async def sample() -> None:
            nonlocal peak
            while not done:
                for pid in pool.worker_pids():
                    peak = max(peak, tree_rss_mb(pid))
                await asyncio.sleep(0.01)

        sampler = asyncio.create_task(sample())
        sem = asyncio.Semaphore(8)

        async def one(i: int) -> None:
            async with sem:
                # A command the prefilter passes: one it refuses would retire its worker.
                await pool.run(IMPORTS, CommandRequest(cmd=f"theorem t{i} : True := trivial"), 30)

        await asyncio.gather(*(one(i) for i in range(checks)))
        done = True
        await sampler
        health = await pool.health()
    # Every check answered (none killed at the hard cap): workers were recycled in time, for
    # their memory (after several commands each, not after every one).
    assert 0 < health.recycled < checks // 2, health
    print(f"[3] +{growth:.0f} MB per command, {cap:.0f} MB cap, {checks} checks")
    print(
        f"    max worker RSS {peak:.1f} MB (limit cap + one command = {cap + growth:.0f} MB); "
        f"recycled {health.recycled}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency-checks", type=int, default=2000)
    parser.add_argument("--throughput-checks", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--memory-checks", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="a small run (CI): assertions only")
    args = parser.parse_args()
    if args.quick:
        asyncio.run(overhead(50))
        asyncio.run(throughput(60, 4, max_commands=10))
        asyncio.run(memory_cap(40, cap=150.0, growth=25.0))
        return
    asyncio.run(overhead(args.latency_checks))
    asyncio.run(throughput(args.throughput_checks, args.clients, max_commands=100))
    asyncio.run(memory_cap(args.memory_checks, cap=1024.0, growth=50.0))


if __name__ == "__main__":
    main()
