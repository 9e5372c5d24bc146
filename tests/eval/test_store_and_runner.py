"""The resumable run store, the sample runner, and `stepprover eval` killed and resumed."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stepprover.agent.loop import LoopConfig, TirAgent
from stepprover.agent.trajectory import Finish, Trajectory
from stepprover.data.problems import Problem
from stepprover.errors import RunConfigMismatch
from stepprover.eval.metrics import pass1, solve_counts
from stepprover.eval.runner import EvalPlan, preflight, run_samples
from stepprover.eval.store import RunConfig, RunStore
from stepprover.lean.backend import RecheckingVerifier
from stepprover.lean.pool import ReplPool
from stepprover.lean.protocol import CommandRequest
from stepprover.lean.verify import LeanVerifier, VerifyConfig
from stepprover.models.scripted import ScriptedGenerator
from tests.conftest import standin_command, standin_pool_config
from tests.progress import until

CONFIG = RunConfig(
    model="m",
    prompt_style="stepfun-tir",
    samples=2,
    sampling={"temperature": 1.0},
    budgets={"max_context_tokens": 20480},
    lean="standin",
    dataset="d.jsonl",
    dataset_sha256="00",
    split="test",
)
TYPE = {"severity": "info", "pos": {"line": -3, "column": 0}, "endPos": None, "data": "@p : True"}
SCRIPT = [
    [
        "BAD_STATEMENT",
        {
            "messages": [
                {
                    "severity": "error",
                    "pos": {"line": 1, "column": 0},
                    "endPos": None,
                    "data": "unknown identifier",
                }
            ]
        },
    ],
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
SKETCH = "Try it.\n<sketch>theorem p : True := by trivial</sketch>"
ANSWER = "</think>\n```lean4\ntheorem p : True := by\n  trivial -- final\n```"


def problems(names: list[str]) -> list[Problem]:
    return [
        Problem(
            name=n,
            header="import Mathlib\n\n",
            formal_statement=(
                "theorem p : BAD_STATEMENT := by\n"
                if n.startswith("bad")
                else "theorem p : True := by\n"
            ),
            split="test",
        )
        for n in names
    ]


def test_store_round_trip_and_config_guard(tmp_path: Path) -> None:
    store = RunStore.open(tmp_path, CONFIG)
    traj = Trajectory(
        problem="a", prompt_text="x", prompt_ids=[1], sample_index=1, finish=Finish.LENGTH
    )
    store.add(traj)
    store.add(traj)  # a repeated sample replaces, never duplicates
    assert store.done() == {("a", 1)}
    assert [t for t in store.trajectories()] == [traj]
    assert store.results()[0].solved is False
    store.close()
    with pytest.raises(RunConfigMismatch, match="samples: stored 2, now 3"):
        RunStore.open(tmp_path, CONFIG.model_copy(update={"samples": 3}))
    again = RunStore.open(tmp_path, CONFIG)
    assert again.done() == {("a", 1)} and RunStore.read_config(tmp_path) == CONFIG
    again.close()


async def test_runner_preflight_and_metrics(
    tokenizer: Any, tmp_path: Path, script_file: Callable[[Any], str]
) -> None:
    chosen = problems(["p1", "p2", "bad1"])
    store = RunStore.open(tmp_path, CONFIG)
    generator = ScriptedGenerator.replaying(tokenizer, [SKETCH, ANSWER])
    async with ReplPool(standin_pool_config("--script", script_file(SCRIPT), workers=2)) as pool:
        checks = await preflight(pool, store, chosen, timeout=5)
        assert {n: ok for n, (ok, _) in checks.items()} == {"p1": True, "p2": True, "bad1": False}
        assert "unknown identifier" in checks["bad1"][1]
        verifier = RecheckingVerifier(LeanVerifier(pool, VerifyConfig(timeout=5)), pool.health)
        agent = TirAgent(generator, pool, verifier, LoopConfig())
        plan = EvalPlan(chosen, samples=2, concurrency=3)
        seen: list[str] = []
        await run_samples(agent, store, plan, {"p1", "p2"}, lambda p, ok: seen.append(p))
        assert sorted(seen) == ["p1", "p1", "p2", "p2"]
        await run_samples(agent, store, plan, {"p1", "p2"})  # nothing left to do
    counts = solve_counts(store.results(), [p.name for p in chosen])
    assert counts == {"p1": (2, 2), "p2": (2, 2), "bad1": (0, 0)}
    assert pass1(counts).value == pytest.approx(2 / 3), "the failed statement still counts"
    store.close()


def sample_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return int(con.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_eval_killed_with_sigkill_resumes_without_losing_or_redoing(
    tokenizer: Any, tmp_path: Path, script_file: Callable[[Any], str]
) -> None:
    tok_dir = tmp_path / "tok"
    tokenizer.save_pretrained(tok_dir)
    turns = tmp_path / "turns.json"
    turns.write_text(json.dumps([SKETCH, ANSWER]))
    bench = tmp_path / "bench.jsonl"
    bench.write_text(
        "".join(
            p.model_dump_json() + "\n" for p in problems(["a1", "a2", "a3", "a4", "a5", "bad1"])
        )
    )
    run = tmp_path / "run"
    repl = " ".join(standin_command("--script", script_file(SCRIPT), "--delay", "0.1"))
    command = [
        sys.executable,
        "-m",
        "stepprover.cli",
        "eval",
        "--model",
        str(turns),
        "--backend",
        "scripted",
        "--tokenizer",
        str(tok_dir),
        "--benchmark",
        f"{bench}:test",
        "--samples",
        "4",
        "--workers",
        "2",
        "--concurrency",
        "4",
        "--run-dir",
        str(run),
        "--repl",
        repl,
    ]
    first = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while sample_count(run / "run.sqlite") < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    killed_at = sample_count(run / "run.sqlite")
    assert 5 <= killed_at < 20, killed_at
    with sqlite3.connect(run / "run.sqlite") as con:
        before = {(p, i): d for p, i, d in con.execute("SELECT * FROM trajectories")}
    assert len(before) == killed_at, "every indexed sample has its trajectory"

    refused = subprocess.run(
        [*command[:-6], "--samples", "5", *command[-6:]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 2 and "another configuration" in refused.stderr

    second = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "over all 6 problems" in second.stdout and "failed pre-flight" in second.stdout
    with sqlite3.connect(run / "run.sqlite") as con:
        rows = con.execute("SELECT problem, sample_index, solved FROM samples").fetchall()
        after = {(p, i): d for p, i, d in con.execute("SELECT * FROM trajectories")}
    assert sorted((p, i) for p, i, _ in rows) == [
        (f"a{k}", i) for k in range(1, 6) for i in range(4)
    ]
    assert all(solved for _, _, solved in rows)
    assert all(after[key] == blob for key, blob in before.items()), "finished samples were redone"


async def test_timeout_under_saturation_is_rechecked_on_an_idle_worker(
    script_file: Callable[[Any], str], tmp_path: Path
) -> None:
    flag = tmp_path / "hung"
    proof = f"theorem p : True := by\n  trivial -- final -- standin:hang-once={flag}"
    async with ReplPool(standin_pool_config("--script", script_file(SCRIPT), workers=1)) as pool:
        verifier = RecheckingVerifier(
            LeanVerifier(pool, VerifyConfig(timeout=3)), pool.health, until_free=pool.until_free
        )
        blocker = asyncio.create_task(pool.run("", CommandRequest(cmd="-- standin:sleep=1"), 5))
        await until(lambda: pool.snapshot().busy >= 1, "the only worker to be busy: saturated")
        verdict = await verifier.check(proof)
        await blocker
        await until(
            lambda: (s := pool.snapshot()).idle >= 1 and not s.starting and not s.spares,
            "the replacement of the hung worker to be warm",
        )
        idle = await verifier.check(proof.replace(str(flag), str(tmp_path / "hung-again")))
    assert flag.exists() and verdict.proved and verdict.attempts == 2, verdict
    assert idle.outcome.value == "timeout" and idle.attempts == 1, "an idle pool's timeout stands"


FIXTURE = Path(__file__).parent / "data" / "run-v0"


def test_a_run_folder_written_before_the_run_setup_change_still_loads_and_resumes(
    tmp_path: Path,
) -> None:
    """run-v0 was written by `stepprover eval` at 3219b4c (tests/eval/data/make_run_v0.py)."""
    import shutil

    from stepprover.eval.report import write_report
    from stepprover.eval.session import RunSettings
    from stepprover.lean.backend import LeanBackend

    folder = tmp_path / "run"
    shutil.copytree(FIXTURE, folder)
    stored = RunStore.read_config(folder)
    with RunStore.reopen(folder) as store:
        assert store.problems() == ["a1", "a2", "bad1"]
        assert sorted((r.problem, r.sample_index, r.solved) for r in store.results()) == [
            ("a1", 0, True),
            ("a1", 1, True),
            ("a2", 0, True),
            ("a2", 1, True),
        ]
        assert {p: ok for p, (ok, _) in store.preflight().items()} == {
            "a1": True,
            "a2": True,
            "bad1": False,
        }
        trajectories = list(store.trajectories())
    assert len(trajectories) == 4 and all(t.solved and t.repl_calls for t in trajectories)
    assert {c.status for t in trajectories for c in t.repl_calls} == {"ok"}
    settings = RunSettings(
        model="turns.json",
        loop=LoopConfig(),
        lean=LeanBackend(None, "http://unused"),
        lean_label=stored.lean,
        samples=2,
        dataset="bench.jsonl:test",
        dataset_sha256=stored.dataset_sha256,
        split="test",
    )
    # The settings `stepprover eval` used then are recorded identically now, but for the
    # verification rules, which runs record since: under other rules the run does not resume.
    assert stored.rules_version is None
    assert settings.run_config().model_copy(update={"rules_version": None}) == stored
    with pytest.raises(RunConfigMismatch, match=r"rules_version: stored None, now '.+--rejudge"):
        RunStore.open(folder, settings.run_config())
    with RunStore.open(
        folder, settings.run_config().model_copy(update={"rules_version": None})
    ) as store:
        assert len(store.done()) == 4
    # A setting added since, when not at its default, is recorded and so refuses the resume.
    reference = dataclasses.replace(settings, loop=LoopConfig.reference())
    assert reference.run_config().budgets["skip_special_tokens"] is True
    with pytest.raises(
        RunConfigMismatch, match=r"budgets\.skip_special_tokens: stored None, now True"
    ):
        RunStore.open(folder, reference.run_config().model_copy(update={"rules_version": None}))
    assert {p.name for p in write_report(folder)} >= {"report.md", "trajectories.html"}


async def test_preflight_takes_refused_imports_as_an_outage_of_the_environment(
    tmp_path: Path,
) -> None:
    from stepprover.errors import ReplStartError
    from stepprover.eval.runner import OutageBreaker
    from stepprover.lean.outcome import CommandOutcome

    class RefusingRepl:  # as the pool answers a header whose imports Lean cannot load
        async def run_command(self, imports: str, cmd: str, timeout: float) -> CommandOutcome:  # noqa: ASYNC109 - see SketchRepl
            async def warm_up() -> Any:
                raise ReplStartError(
                    f"warm-up {imports!r} was refused: unknown module prefix 'Nope'", refused=True
                )

            return await CommandOutcome.of(warm_up())

    problem = problems(["a1"])[0].model_copy(update={"header": "import Nope\n\n"})
    with RunStore.open(tmp_path, CONFIG) as store:
        # What an older run stored for such imports: checked again, then dropped.
        store.record_preflight("a1", False, "the imports were refused: unknown package 'Nope'")
        breaker = OutageBreaker(0)
        checks = await preflight(RefusingRepl(), store, [problem], 10, breaker)  # type: ignore[arg-type]
        assert checks == {} and store.preflight() == {}
        assert breaker.total == 1 and "unknown module prefix 'Nope'" in str(breaker.last)
