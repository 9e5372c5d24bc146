"""Throughput and latency through the HTTP service versus the in-process pool, same run.

Stand-in REPL (a test program, not Lean) at 10 ms per check, 4 workers; clients send
single-snippet requests over keep-alive connections. Run: python benchmarks/service_load.py
(``--quick``: one round of 100 checks from 4 clients, every answer still checked, no figures
worth reading; what CI runs)
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import statistics
import sys
import time

import httpx
from _repo import REPO

from stepprover.lean.pool import PoolConfig, ReplPool
from stepprover.lean.process import ProcessConfig
from stepprover.lean.protocol import CommandRequest
from tests.server.service_process import ServiceProcess

STANDIN = [sys.executable, str(REPO / "tests" / "fakes" / "standin_repl.py"), "--delay", "0.01"]
IMPORTS = "import Mathlib"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def drive(n: int, clients: int, one: object) -> tuple[float, list[float]]:
    latencies: list[float] = []
    next_id = iter(range(n))

    async def client() -> None:
        for i in next_id:
            started = time.perf_counter()
            await one(i)  # type: ignore[operator]
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return n / (time.perf_counter() - started), latencies


async def in_process(n: int, clients: int) -> tuple[float, list[float]]:
    config = PoolConfig(
        process=ProcessConfig(command=STANDIN),
        workers=4,
        max_commands=None,
        expected_worker_rss_mb=50,
    )
    async with ReplPool(config) as pool:
        await pool.warm(IMPORTS)

        async def one(i: int) -> None:
            await pool.run(IMPORTS, CommandRequest(cmd=f"theorem t{i} : True := trivial"), 30)

        await drive(50, clients, one)  # warm the event loop paths as well
        return await drive(n, clients, one)


async def over_http(url: str, n: int, clients: int) -> tuple[float, list[float]]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:

        async def one(i: int) -> None:
            body = {
                "snippets": [{"id": str(i), "code": f"{IMPORTS}\ntheorem t{i} : True := trivial"}]
            }
            response = await http.post("/api/check", json=body)
            response.raise_for_status()
            (result,) = response.json()["results"]
            assert result["error"] is None and result["response"] is not None, result

        await drive(50, clients, one)
        return await drive(n, clients, one)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checks", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="in-process then HTTP, side by side, this many times (2 shared cores are noisy)",
    )
    parser.add_argument("--quick", action="store_true", help="a small run (CI): assertions only")
    args = parser.parse_args()
    if args.quick:
        args.checks, args.clients, args.rounds = 100, 4, 1
    service = ServiceProcess(
        {
            "repl_command": shlex.join(STANDIN),
            "workers": 4,
            "sandbox": False,
            "expected_worker_rss_mb": 50,
            "max_commands_per_worker": 1_000_000,
            "max_queue": 10_000,
        }
    ).start()
    ratios = []
    try:
        warm = 20 if args.quick else 4 * 50
        asyncio.run(over_http(service.url, warm, args.clients))  # warm the workers
        for round_ in range(1, args.rounds + 1):
            local_rate, local_lat = asyncio.run(in_process(args.checks, args.clients))
            http_rate, http_lat = asyncio.run(over_http(service.url, args.checks, args.clients))
            ratios.append(http_rate / local_rate)
            for name, rate, lat in (
                ("in-process pool", local_rate, local_lat),
                ("HTTP service", http_rate, http_lat),
            ):
                print(
                    f"[{round_}] {name:16s}: {rate:7.1f} checks/s  "
                    f"p50 {percentile(lat, 0.5) * 1000:6.1f} ms  "
                    f"p99 {percentile(lat, 0.99) * 1000:6.1f} ms"
                )
            print(f"[{round_}] ratio: {ratios[-1]:.3f}")
    finally:
        service.stop()
    print(
        f"ratio, median of {len(ratios)} rounds: {statistics.median(ratios):.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f}; target >= 0.85; "
        "ideal 4 / 10 ms = 400 checks/s)"
    )


if __name__ == "__main__":
    main()
