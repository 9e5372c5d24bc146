"""Does the TIR loop overlap generation with Lean, and how much CPU does a turn cost?

1. Scripted generator (at most 8 calls at once, 30 ms each), stand-in REPL
   (50 ms per check, 4 workers), 64 trajectories of 4 sketches + 1 answer.
   Ideal wall time: max(64*5*30 ms / 8, 64*4*50 ms / 4) = 3.2 s.
2. The loop's own CPU time per turn at a 16K-token context, with a generator
   and a REPL that answer at once.

The stand-in (tests/fakes/standin_repl.py) is a test program, not Lean.
Run: python benchmarks/agent_overlap.py (``--quick``: 8 trajectories, 4 turns at a 2K-token
context, the same assertions, no figures worth reading; what CI runs)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from _repo import REPO

from stepprover.agent.loop import LoopConfig, TirAgent
from stepprover.data.problems import Problem
from stepprover.lean.outcome import CommandOutcome, CommandStatus
from stepprover.lean.pool import PoolConfig, ReplPool
from stepprover.lean.process import ProcessConfig
from stepprover.lean.verify import LeanVerifier, Verdict
from stepprover.models.base import Generation, SamplingParams, finish_for
from stepprover.models.scripted import ScriptedGenerator
from tests.fakes.tiny_model import build_tokenizer

STANDIN = [sys.executable, str(REPO / "tests" / "fakes" / "standin_repl.py")]
PROBLEM = Problem(name="t", formal_statement="theorem t : True := by\n")
SKETCH = "Let me check.\n<sketch>theorem t : True := by\n  trivial</sketch>"
ANSWER = "</think>\nDone, no final block (so nothing is verified after the sketches)."


def script(context: str, _: int) -> str:
    return SKETCH if context.count("\n<REPL>\n") < 4 else ANSWER  # feedback blocks only


async def overlap(tokenizer: Any, trajectories: int) -> None:
    sketches, gen_s, gen_slots, check_s, workers = 4, 0.03, 8, 0.05, 4
    ideal = max(
        trajectories * (sketches + 1) * gen_s / gen_slots,
        trajectories * sketches * check_s / workers,
    )
    generator = ScriptedGenerator(tokenizer, script, latency=gen_s, max_concurrency=gen_slots)
    config = PoolConfig(
        process=ProcessConfig(command=[*STANDIN, "--delay", str(check_s)]),
        workers=workers,
        expected_worker_rss_mb=50,
    )
    async with ReplPool(config) as pool:
        await pool.warm("import Mathlib")
        agent = TirAgent(generator, pool, LeanVerifier(pool), LoopConfig())
        started = time.perf_counter()
        results = await asyncio.gather(*(agent.run(PROBLEM, i) for i in range(trajectories)))
        wall = time.perf_counter() - started
    calls = sum(len(t.repl_calls) for t in results)
    assert calls == trajectories * sketches, calls
    print(
        f"[1] {trajectories} trajectories x {sketches} sketches: wall {wall:.3f} s, "
        f"ideal {ideal:.3f} s; ratio: {wall / ideal:.3f} (target <= 1.15)"
    )


class InstantGenerator:
    """Returns precomputed ids at once, so only the loop's own work is timed."""

    def __init__(self, tokenizer: Any, turns: int) -> None:
        self.tokenizer = tokenizer
        self.sketch = tokenizer.encode(SKETCH, add_special_tokens=False)
        self.answer = [*tokenizer.encode(ANSWER, add_special_tokens=False), tokenizer.eos_token_id]
        self.turns = turns
        self.calls = 0

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams, stop_token_ids: list[int]
    ) -> Generation:
        self.calls += 1
        ids = self.sketch if self.calls <= self.turns else self.answer
        finish, stop = finish_for(ids, stop_token_ids)
        return Generation(list(ids), finish, stop)

    async def close(self) -> None:
        return None


class InstantRepl:
    def __init__(self) -> None:
        self.outcome = CommandOutcome(status=CommandStatus.OK, reply={"messages": [], "env": 1})

    async def run_command(self, imports: str, cmd: str, timeout: float) -> CommandOutcome:  # noqa: ASYNC109 - see SketchRepl
        return self.outcome


class NoVerifier:
    async def check(
        self,
        code: str | bytes,
        *,
        statement: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - see SketchRepl
    ) -> Verdict:
        raise AssertionError("not reached: the answer has no final block")


async def cpu_per_turn(tokenizer: Any, turns: int, prompt_tokens: int) -> None:
    line = "-- a long problem statement to fill the context\n"
    per_line = len(tokenizer.encode(line, add_special_tokens=False))
    filler = line * (prompt_tokens // per_line)
    problem = Problem(name="t", header=filler, formal_statement="theorem t : True := by\n")
    generator = InstantGenerator(tokenizer, turns)
    agent = TirAgent(generator, InstantRepl(), NoVerifier(), LoopConfig(max_context_tokens=40_000))
    trajectory = await agent.run(problem)  # warm caches once
    generator.calls = 0
    started = time.process_time()
    trajectory = await agent.run(problem)
    cpu = time.process_time() - started
    context = len(trajectory.context_ids)
    assert len(trajectory.repl_calls) == turns, trajectory.finish
    per_turn = cpu / (turns + 1)
    print(
        f"[2] context {len(trajectory.prompt_ids)} -> {context} tokens, {turns + 1} turns: "
        f"loop CPU {per_turn * 1000:.3f} ms per turn (target < 2 ms; includes prompt rendering)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (CI): assertions only")
    quick = parser.parse_args().quick
    tokenizer = build_tokenizer()
    asyncio.run(overlap(tokenizer, trajectories=8 if quick else 64))
    asyncio.run(
        cpu_per_turn(tokenizer, turns=4 if quick else 32, prompt_tokens=2_000 if quick else 16_000)
    )


if __name__ == "__main__":
    main()
