"""Throughput, latency and the service's own CPU per check through the HTTP service.

Stand-in REPL (a test program, not Lean) at 10 ms per check, 4 workers: the limit is
4 / 10 ms = 400 checks/s. Phases, in one run (ratios within a run are what count on a
shared machine):

* in-process pool vs HTTP service, 16 keep-alive clients sending one snippet each;
* singles with 64 clients;
* batches of 20 snippets, 4 clients;
* two headers: 16 clients alternating `import Mathlib` / `import Mathlib\\nimport Aesop`,
  counting the REPLs the service starts after a warm-up.

Each phase prints checks/s, its ratio to the limit, p50/p99 latency and the service's CPU
per check (its process's user + system time over the phase, divided by the checks).
The last line: ``two headers: S REPL starts for N checks, T checks/s (one header: U checks/s)``.

``--quick`` runs every phase for a few seconds and asserts what does not depend on the
machine's speed (every check answered, at most 4 REPL starts per header after the
warm-up), not throughput: for CI. Run: python benchmarks/service_load.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import psutil
from _repo import REPO

from stepprover.lean.pool import PoolConfig, ReplPool
from stepprover.lean.process import ProcessConfig
from stepprover.lean.protocol import CommandRequest
from tests.server.service_process import ServiceProcess

DELAY = 0.01
WORKERS = 4
LIMIT = WORKERS / DELAY
STANDIN = [sys.executable, str(REPO / "tests" / "fakes" / "standin_repl.py"), "--delay", str(DELAY)]
MATHLIB = "import Mathlib"
AESOP = "import Mathlib\nimport Aesop"
STARTS_PER_HEADER = 4
"""After the warm-up, alternating two headers may start at most this many REPLs per header."""


@dataclass
class Phase:
    name: str
    checks: int
    seconds: float
    latencies: list[float]
    cpu_seconds: float | None = None
    starts: int = 0
    """REPLs the service started during the phase."""

    @property
    def rate(self) -> float:
        return self.checks / self.seconds

    def line(self) -> str:
        lat = sorted(self.latencies)
        p50, p99 = (lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 for q in (0.5, 0.99))
        cpu = (
            f"  service CPU {self.cpu_seconds / self.checks * 1000:5.2f} ms/check"
            if self.cpu_seconds is not None
            else ""
        )
        return (
            f"{self.name:28s}: {self.rate:7.1f} checks/s ({self.rate / LIMIT:.2f} of the limit)"
            f"  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms{cpu}"
        )


async def drive(requests: int, clients: int, one: Callable[[int], Awaitable[int]]) -> Phase:
    """``clients`` concurrent loops sending requests 0..requests-1; ``one`` returns its checks."""
    latencies: list[float] = []
    numbers = iter(range(requests))
    checks = 0

    async def client() -> None:
        nonlocal checks
        for i in numbers:
            started = time.perf_counter()
            answered = await one(i)  # (``checks += await ...`` would read checks before)
            checks += answered
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return Phase("", checks, time.perf_counter() - started, latencies)


def snippet(i: int, imports: str = MATHLIB) -> dict[str, str]:
    return {"id": str(i), "code": f"{imports}\ntheorem t{i} : True := trivial"}


class Service:
    """The service under load, its CPU clock and its REPL start count."""

    def __init__(self) -> None:
        self.process = ServiceProcess(
            {
                "repl_command": shlex.join(STANDIN),
                "workers": WORKERS,
                "sandbox": False,
                "expected_worker_rss_mb": 50,
                "max_commands_per_worker": 1_000_000,
                "max_queue": 10_000,
            }
        ).start()
        self.url = self.process.url
        self.os_process = psutil.Process(self.process.pid)

    def cpu(self) -> float:
        times = self.os_process.cpu_times()
        return times.user + times.system

    def started(self) -> int:
        return int(httpx.get(self.url + "/health", timeout=10).json()["started"])

    def stop(self) -> None:
        self.process.stop()

    async def phase(
        self, name: str, requests: int, clients: int, body: Callable[[int], dict[str, Any]]
    ) -> Phase:
        connections: asyncio.Queue[Connection] = asyncio.Queue()
        for _ in range(clients):
            connections.put_nowait(await Connection.open("127.0.0.1", self.process.port))

        async def one(i: int) -> int:
            sent = body(i)
            connection = await connections.get()
            try:
                status, answer = await connection.post("/api/check", json.dumps(sent).encode())
            finally:
                connections.put_nowait(connection)
            assert status == 200, f"{name}: HTTP {status} {answer[:200]!r}"
            results = json.loads(answer)["results"]
            bad = [r for r in results if r.get("error") or r.get("response") is None]
            assert len(results) == len(sent["snippets"]) and not bad, f"{name}: {bad[:1]}"
            return len(results)

        try:
            await drive(min(requests, 4 * clients), clients, one)  # connections, event loop paths
            before = self.cpu()
            result = await drive(requests, clients, one)
            result.cpu_seconds = self.cpu() - before
        finally:
            while not connections.empty():
                connections.get_nowait().close()
        result.name = name
        return result


class Connection:
    """One keep-alive HTTP/1.1 connection, written by hand: at 64 connections httpx's own
    CPU, not the service's, set the pace (a bare FastAPI route sleeping 10 ms answered
    about 230 requests/s to 64 httpx connections and 1,170/s to 16)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def post(self, path: str, payload: bytes) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        answer = await self.reader.readuntil(b"\r\n\r\n")
        status = int(answer.split(b" ", 2)[1])
        length = None
        for line in answer.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        assert length is not None, f"an answer without Content-Length: {answer[:200]!r}"
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def in_process(checks: int, clients: int) -> Phase:
    config = PoolConfig(
        process=ProcessConfig(command=STANDIN),
        workers=WORKERS,
        max_commands=None,
        expected_worker_rss_mb=50,
    )
    async with ReplPool(config) as pool:
        await pool.warm(MATHLIB)

        async def one(i: int) -> int:
            await pool.run(MATHLIB, CommandRequest(cmd=f"theorem t{i} : True := trivial"), 30)
            return 1

        await drive(50, clients, one)
        result = await drive(checks, clients, one)
    result.name = "in-process pool, 16 clients"
    return result


def run_round(service: Service, checks: int, quick: bool) -> dict[str, Phase]:
    phases: dict[str, Phase] = {}
    if not quick:
        phases["local"] = asyncio.run(in_process(checks, 16))
    phases["singles"] = asyncio.run(
        service.phase("HTTP singles, 16 clients", checks, 16, lambda i: {"snippets": [snippet(i)]})
    )
    phases["singles64"] = asyncio.run(
        service.phase("HTTP singles, 64 clients", checks, 64, lambda i: {"snippets": [snippet(i)]})
    )
    phases["batches"] = asyncio.run(
        service.phase(
            "HTTP batches of 20, 4 clients",
            max(1, checks // 20),
            4,
            lambda i: {"snippets": [snippet(20 * i + j) for j in range(20)]},
        )
    )

    def alternating(i: int) -> dict[str, Any]:
        return {"snippets": [snippet(i, (MATHLIB, AESOP)[i % 2])]}

    # warm-up: the second header's workers start and the pool settles into its shares
    asyncio.run(service.phase("two headers (warm-up)", 400, 16, alternating))
    before = service.started()
    phases["two"] = asyncio.run(
        service.phase("HTTP two headers, 16 clients", checks, 16, alternating)
    )
    phases["two"].starts = service.started() - before
    for phase in phases.values():
        print(phase.line())
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=3000, help="checks per phase")
    parser.add_argument("--rounds", type=int, default=1, help="all phases, this many times")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a few seconds a phase; assert the invariants (not throughput), for CI",
    )
    args = parser.parse_args()
    checks = 300 if args.quick else args.checks
    service = Service()
    rounds = []
    try:
        asyncio.run(service.phase("warm-up", 4 * 50, 16, lambda i: {"snippets": [snippet(i)]}))
        for round_ in range(1, 1 + (1 if args.quick else args.rounds)):
            print(f"round {round_}")
            rounds.append(run_round(service, checks, args.quick))
    finally:
        service.stop()
    if not args.quick:
        ratios = [r["singles"].rate / r["local"].rate for r in rounds]
        print(f"HTTP / in-process singles: median {statistics.median(ratios):.3f}")
        for key, target in (("singles", 0.95), ("singles64", 0.95), ("batches", 0.95)):
            values = [r[key].rate / LIMIT for r in rounds]
            print(
                f"{key}: median {statistics.median(values):.2f} of the limit (target >= {target})"
            )
        two = [r["two"].rate / r["singles"].rate for r in rounds]
        print(f"two headers / one header: median {statistics.median(two):.2f} (target >= 0.9)")
    last = rounds[-1]
    starts = last["two"].starts
    print(
        f"two headers: {starts} REPL starts for {last['two'].checks} checks, "
        f"{last['two'].rate:.1f} checks/s (one header: {last['singles'].rate:.1f} checks/s)"
    )
    bound = 2 * STARTS_PER_HEADER
    if starts > bound:
        sys.exit(f"FAIL: {starts} REPL starts after the warm-up (at most {bound}: 4 per header)")


if __name__ == "__main__":
    main()
