"""Evaluation harness overhead and resume time, with a scripted model and the stand-in REPL.

[1] 244 problems x 8 samples through the real runner, TIR agent and warm pool; each
    trajectory is about 40 KB (thinking padded to that size). The harness overhead of a
    sample is the time from the agent returning its trajectory to the end of its
    bookkeeping (the durable store write, the progress and outage counters). Target:
    p50 at most 2 ms.
[2] Resuming a run of 100,000 stored samples (2 KB trajectories): opening the store and
    reading what a resume reads (finished samples, results, retryable, pre-flight).
    Target: under 2 s.

The stand-in (tests/fakes/standin_repl.py) is a test program, not Lean: these figures
measure the harness, not proving. Run: python benchmarks/eval_throughput.py (``--quick``:
4 problems x 2 samples and a resume of 2,000, the same assertions, no figures worth
reading; what CI runs)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

from _repo import REPO

from stepprover.agent.loop import LoopConfig, TirAgent
from stepprover.agent.trajectory import Finish, Segment, Trajectory
from stepprover.data.problems import Problem
from stepprover.eval.runner import EvalPlan, evaluate
from stepprover.eval.store import RunConfig, RunStore
from stepprover.lean.backend import RecheckingVerifier
from stepprover.lean.pool import PoolConfig, ReplPool
from stepprover.lean.process import ProcessConfig
from stepprover.lean.verify import LeanVerifier, Outcome, Verdict
from stepprover.models.scripted import ScriptedGenerator

STANDIN = [sys.executable, str(REPO / "tests" / "fakes" / "standin_repl.py")]
TYPE = {"severity": "info", "pos": {"line": -3, "column": 0}, "endPos": None, "data": "@p : True"}
SCRIPT = [  # what the stand-in answers: the statement's type, then a proof with its checks
    ["sorry\n\nset_option pp.all", {"messages": [{**TYPE, "pos": {"line": -2, "column": 0}}]}],
    [
        "-- final",
        {
            "messages": [
                TYPE,
                {
                    **TYPE,
                    "pos": {"line": -2, "column": 0},
                    "data": "'p' does not depend on any axioms",
                },
            ]
        },
    ],
    ["*", {}],
]
ANSWER = "</think>\n```lean4\ntheorem p : True := by\n  trivial -- final\n```"
CONFIG = RunConfig(
    model="scripted",
    prompt_style="stepfun-tir",
    samples=8,
    sampling={},
    budgets={},
    lean="stand-in",
    dataset="bench",
    dataset_sha256="00",
    split="test",
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Timed:
    """The agent, noting when each trajectory is handed back to the runner."""

    def __init__(self, agent: TirAgent) -> None:
        self.agent = agent
        self.returned: dict[tuple[str, int], float] = {}
        self.sizes: list[int] = []

    async def run(self, problem: Problem, sample_index: int = 0) -> Trajectory:
        trajectory = await self.agent.run(problem, sample_index)
        self.sizes.append(len(trajectory.model_dump_json()))
        self.returned[(problem.name, sample_index)] = time.perf_counter()
        return trajectory


async def harness_overhead(problems: int, samples: int, folder: Path, tokenizer: Any) -> None:
    script = folder / "script.json"
    script.write_text(json.dumps(SCRIPT))
    filler = "Let me think about this step by step. " * 350  # ~40 KB of trajectory JSON in all
    sketch = f"{filler}\n<sketch>theorem p : True := by\n  trivial</sketch>"
    generator = ScriptedGenerator.replaying(tokenizer, [sketch, ANSWER])
    chosen = [
        Problem(name=f"p{i:03d}", formal_statement="theorem p : True := by\n", split="test")
        for i in range(problems)
    ]
    store = RunStore.open(folder / "run", CONFIG.model_copy(update={"samples": samples}))
    store.record_problems([p.name for p in chosen])
    overheads: list[float] = []
    solved = 0
    pool_config = PoolConfig(
        process=ProcessConfig(command=[*STANDIN, "--script", str(script)]),
        workers=2,
        expected_worker_rss_mb=50,
    )
    async with ReplPool(pool_config) as pool:
        agent = Timed(
            TirAgent(
                generator, pool, RecheckingVerifier(LeanVerifier(pool), pool.health), LoopConfig()
            )
        )

        def progress(problem: str, trajectory: Trajectory) -> None:
            nonlocal solved
            solved += trajectory.solved
            overheads.append(
                time.perf_counter() - agent.returned[(problem, trajectory.sample_index)]
            )

        started = time.perf_counter()
        await evaluate(agent, pool, store, EvalPlan(chosen, samples, concurrency=64), progress)
        wall = time.perf_counter() - started
    store.close()
    assert solved == problems * samples, f"only {solved} solved: the benchmark setup is broken"
    ms = 1000
    size = sum(agent.sizes) / len(agent.sizes) / 1024
    p50, p99 = percentile(overheads, 0.5) * ms, percentile(overheads, 0.99) * ms
    print(
        f"[1] {problems} problems x {samples} samples, trajectories {size:.1f} KB on average, "
        f"{len(overheads)} samples in {wall:.1f} s ({len(overheads) / wall:.1f} samples/s)"
    )
    print(
        f"    harness overhead per sample: p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
        f"(target p50 <= 2 ms: {'met' if p50 <= 2 else 'NOT met'})"
    )


def build_store(folder: Path, n: int) -> int:
    """A run of ``n`` finished samples with ~2 KB trajectories, written in one transaction
    (setting up the benchmark, not measured)."""
    store = RunStore.open(folder, CONFIG.model_copy(update={"samples": 100}))
    store.close()
    text = "x" * 1500
    base = Trajectory(
        problem="p",
        prompt_text="prompt",
        prompt_ids=list(range(50)),
        segments=[Segment(kind="model", text=text, token_ids=list(range(100)))],
        finish=Finish.ANSWERED,
        verdict=Verdict(outcome=Outcome.LEAN_ERROR, reason="r"),
    )
    per_problem = 100
    rows, blobs = [], []
    for k in range(n):
        problem, index = f"p{k // per_problem:05d}", k % per_problem
        data = base.model_copy(update={"problem": problem, "sample_index": index}).model_dump_json()
        rows.append((problem, index, 0, "lean_error", "answered", 0, None, 150))
        blobs.append((problem, index, zlib.compress(data.encode())))
    size = len(data)
    with sqlite3.connect(folder / "run.sqlite") as db:
        db.executemany("INSERT INTO samples VALUES (?,?,?,?,?,?,?,?)", rows)
        db.executemany("INSERT INTO trajectories VALUES (?,?,?)", blobs)
        db.executemany(
            "INSERT INTO problems VALUES (?, ?)",
            [(f"p{i:05d}", i) for i in range(n // per_problem)],
        )
        db.executemany(
            "INSERT INTO preflight VALUES (?, 1, '')",
            [(f"p{i:05d}",) for i in range(n // per_problem)],
        )
    return size


class Untouched:
    """The agent and REPL of a run with nothing left to do: never called."""

    async def run(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a resumed run with every sample done ran something")


def resume_time(n: int, folder: Path) -> None:
    size = build_store(folder, n)
    names = [f"p{i:05d}" for i in range(n // 100)]
    plan = EvalPlan(
        [Problem(name=name, formal_statement="theorem p : True := by\n") for name in names],
        samples=100,
    )
    started = time.perf_counter()
    # What `stepprover eval` does before its first new sample: open the run, count what
    # is done for the progress bar, read the pre-flight results, find nothing left to run.
    store = RunStore.open(folder, CONFIG.model_copy(update={"samples": 100}))
    store.record_problems(names)
    done, solved = store.done(), store.solved_count()
    asyncio.run(evaluate(Untouched(), Untouched(), store, plan))  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    store.close()
    assert len(done) == n and solved == 0
    print(
        f"[2] resume of {n:,} stored samples ({size / 1024:.1f} KB trajectories), nothing left "
        f"to run: {elapsed:.2f} s (target < 2 s: {'met' if elapsed < 2 else 'NOT met'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=244)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--resume-samples", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="a small run (CI): assertions only")
    args = parser.parse_args()
    if args.quick:
        args.problems, args.samples, args.resume_samples = 4, 2, 2_000
    from tests.fakes.tiny_model import build_tokenizer

    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:  # a real disk: the store fsyncs
        asyncio.run(harness_overhead(args.problems, args.samples, Path(tmp), build_tokenizer()))
    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:
        resume_time(args.resume_samples, Path(tmp))


if __name__ == "__main__":
    main()
