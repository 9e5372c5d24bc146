"""How much Lean time does the verdict cache save on an eval-shaped workload?

244 problems x 16 samples through the TIR loop (scripted generator: each sample
answers at once with its final proof), stand-in REPL at 50 ms per check, 8 workers,
64 trajectories in flight. 30% of the final proofs repeat an earlier proof of the
same problem (the samples of a problem run together, so many repeats arrive while
the first copy is still being checked); a quarter of the distinct proofs fail.

The same workload runs twice in this process: uncached (``LeanVerifier`` alone), then
cached (``CachingVerifier`` over a cold store in a fresh folder). Asserted: the proof
checks issued to the pool equal the samples uncached, and the distinct keys cached,
exactly (a check lost to a worker fault and sent once more is counted apart and
printed with the fault); every verdict is the same in both runs. Printed: wall times, hit rate, how
many hits joined a check in flight, Lean seconds saved.

The stand-in (tests/fakes/standin_repl.py) is a test program, not Lean.
Run: python benchmarks/verdict_cache.py (``--quick``: 12 problems x 4 samples, the same
assertions, no figures worth reading; what CI runs)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

from _repo import REPO

from stepprover.agent.loop import LoopConfig, TirAgent
from stepprover.agent.trajectory import Trajectory
from stepprover.data.problems import Problem
from stepprover.lean.outcome import CommandOutcome
from stepprover.lean.pool import PoolConfig, ReplPool
from stepprover.lean.process import ProcessConfig
from stepprover.lean.verdict_cache import CacheStats, CachingVerifier, VerdictStore
from stepprover.lean.verify import LeanVerifier, Verifier, VerifyConfig
from stepprover.models.scripted import ScriptedGenerator
from tests.fakes.tiny_model import build_tokenizer

REPEAT, FAIL, CHECK_S = 0.30, 0.25, 0.05


class Size(NamedTuple):
    problems: int
    samples: int
    workers: int
    in_flight: int
    seed: int  # of the workload's draw: the quick one's holds both failing proofs and repeats


FULL, QUICK = Size(244, 16, 8, 64, seed=0), Size(12, 4, 2, 8, seed=3)
STANDIN = [sys.executable, str(REPO / "tests" / "fakes" / "standin_repl.py")]
MARK = "-- proof variant"
TYPE = {"severity": "info", "pos": {"line": -3, "column": 0}, "endPos": None, "data": "@t : True"}
AXIOMS = {**TYPE, "pos": {"line": -2, "column": 0}, "data": "'t' does not depend on any axioms"}
ERROR = {
    "severity": "error",
    "pos": {"line": 2, "column": 2},
    "endPos": None,
    "data": "simp failed",
}
SCRIPT = [
    ["sorry\n\nset_option pp.all", {"messages": [{**TYPE, "pos": {"line": -2, "column": 0}}]}],
    ["-- fails", {"messages": [ERROR, AXIOMS]}],
    [MARK, {"messages": [TYPE, AXIOMS]}],
    ["*", {}],
]


def workload(size: Size) -> tuple[list[Problem], list[list[str]], int]:
    """Problems, each sample's final answer text, and the number of distinct final proofs."""
    rng = random.Random(size.seed)
    problems = [
        Problem(
            name=f"p{k:03d}",
            header="import Mathlib\n\n",
            formal_statement=f"theorem t : ({k} : Nat) = {k} := by\n",
        )
        for k in range(size.problems)
    ]
    answers: list[list[str]] = []
    distinct = 0
    samples = size.samples
    for k in range(size.problems):
        proofs: list[str] = []
        for i in range(samples):
            if i > 0 and rng.random() < REPEAT * samples / (samples - 1):  # sample 0 is never one
                proofs.append(rng.choice(proofs[:i]))  # an earlier sample's proof, verbatim
                continue
            distinct += 1
            fails = " -- fails" if rng.random() < FAIL else ""
            proofs.append(f"theorem t : ({k} : Nat) = {k} := by\n  rfl {MARK} {i}{fails}")
        answers.append([f"</think>\n```lean4\n{p}\n```" for p in proofs])
    return problems, answers, distinct


class CountingPool:
    """The pool the verifier sees, counting proof checks (the statement's own check aside)."""

    def __init__(self, pool: ReplPool) -> None:
        self.pool = pool
        self.proof_checks = 0
        self.faults: Counter[str] = Counter()
        """Worker faults (a check lost to one is sent once more: ``Verdict.attempts``)."""

    async def run_command(
        self,
        imports: str,
        cmd: str,
        timeout: float,  # noqa: ASYNC109 - see SketchRepl
        *,
        trusted: bool = False,
    ) -> CommandOutcome:
        self.proof_checks += MARK in cmd
        outcome = await self.pool.run_command(imports, cmd, timeout, trusted=trusted)
        if not outcome.ok:
            self.faults[f"{outcome.status.value}: {outcome.detail[:100]}"] += 1
        return outcome


async def one_run(
    tokenizer: Any, script: str, cache_dir: Path | None, size: Size
) -> tuple[float, CountingPool, list[Trajectory], CacheStats | None]:
    config = PoolConfig(
        process=ProcessConfig(command=[*STANDIN, "--script", script, "--delay", str(CHECK_S)]),
        workers=size.workers,
        expected_worker_rss_mb=50,
    )
    problems, answers, _ = workload(size)
    async with ReplPool(config) as pool:
        await pool.warm("import Mathlib")
        counting = CountingPool(pool)
        lean = LeanVerifier(counting, VerifyConfig(timeout=60))  # type: ignore[arg-type]
        caching = (
            CachingVerifier(
                lean, VerdictStore.in_dir(cache_dir), setup="standin", config=lean.config
            )
            if cache_dir
            else None
        )
        verifier: Verifier = caching or lean
        slots = asyncio.Semaphore(size.in_flight)

        async def sample(problem: Problem, index: int, answer: str) -> Trajectory:
            async with slots:
                agent = TirAgent(
                    ScriptedGenerator(tokenizer, [answer]), pool, verifier, LoopConfig()
                )
                return await agent.run(problem, index)

        # The first half of every problem's samples first, then the second half: a repeat
        # within a half usually finds its first copy in flight, one across halves stored.
        half = size.samples // 2
        order = sorted(
            ((k, i) for k in range(size.problems) for i in range(size.samples)),
            key=lambda ki: (ki[1] // half, ki),
        )
        started = time.perf_counter()
        done = await asyncio.gather(*(sample(problems[k], i, answers[k][i]) for k, i in order))
        results = [t for _, t in sorted(zip(order, done, strict=True), key=lambda pair: pair[0])]
        wall = time.perf_counter() - started
        if caching is not None:
            caching.close()
    return wall, counting, results, caching.stats if caching else None


async def measure(size: Size) -> None:
    tokenizer = build_tokenizer()
    _, _, distinct = workload(size)
    total = size.problems * size.samples
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "script.json"
        script.write_text(json.dumps(SCRIPT))
        plain_wall, plain_pool, plain, _ = await one_run(tokenizer, str(script), None, size)
        cached_wall, cached_pool, cached, stats = await one_run(
            tokenizer, str(script), Path(folder), size
        )
    assert stats is not None
    plain_checks, cached_checks = plain_pool.proof_checks, cached_pool.proof_checks
    # A check lost to a worker fault is sent once more (retry_on_crash): count those apart.
    plain_resent = sum(t.verdict.attempts - 1 for t in plain if t.verdict)
    cached_resent = sum(
        t.verdict.attempts - 1 for t in cached if t.verdict and not t.verdict.cached
    )
    assert plain_checks - plain_resent == total, (plain_checks, plain_resent, total)
    assert cached_checks - cached_resent == distinct, (cached_checks, cached_resent, distinct)
    assert stats.misses == distinct and stats.hits + stats.coalesced == total - distinct
    same = all(
        a.verdict is not None and b.verdict is not None and a.verdict.outcome == b.verdict.outcome
        for a, b in zip(plain, cached, strict=True)
    )
    assert same, "a cached verdict differs from Lean's"
    proved = sum(t.solved for t in cached)
    assert 0 < proved < total, f"{proved} of {total} proved: the workload lost its failing proofs"
    print(
        f"{size.problems} problems x {size.samples} samples = {total} final proofs, "
        f"{distinct} distinct ({100 * (total - distinct) / total:.1f}% repeats); stand-in REPL "
        f"{CHECK_S * 1000:.0f} ms per check, {size.workers} workers, {size.in_flight} "
        f"trajectories in flight; {proved} proved"
    )
    print(
        f"uncached: {plain_checks - plain_resent} proof checks issued to the pool (= samples), "
        f"wall {plain_wall:.2f} s"
    )
    print(
        f"cached:   {cached_checks - cached_resent} proof checks issued to the pool "
        "(= distinct keys), "
        f"wall {cached_wall:.2f} s ({cached_wall / plain_wall:.2f}x of uncached)"
    )
    for name, pool, resent in (
        ("uncached", plain_pool, plain_resent),
        ("cached", cached_pool, cached_resent),
    ):
        if pool.faults:
            print(f"{name}: {resent} checks re-sent after worker faults: {dict(pool.faults)}")
    print(
        f"hit rate {100 * (stats.hits + stats.coalesced) / total:.1f}% "
        f"({stats.hits} from the store, {stats.coalesced} joined a check still in flight); "
        f"{stats.saved_seconds:.1f} Lean seconds saved (worker time; "
        f"uncached run: {sum(t.verdict.lean_seconds for t in plain if t.verdict):.1f} Lean seconds "
        f"on final checks)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (CI): assertions only")
    args = parser.parse_args()
    asyncio.run(measure(QUICK if args.quick else FULL))


if __name__ == "__main__":
    main()
