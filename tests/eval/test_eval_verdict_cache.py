"""`stepprover eval` and the report with the verdict cache (scripted model, stand-in REPL)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from stepprover.agent.trajectory import Finish, Trajectory
from stepprover.cli import app
from stepprover.eval.store import RunStore
from stepprover.lean.verify import Outcome, Verdict
from tests.conftest import standin_command
from tests.eval.test_store_and_runner import ANSWER, CONFIG, SCRIPT, SKETCH, problems

runner = CliRunner()


def test_eval_summary_and_report_count_cache_hits(
    tokenizer: Any, tmp_path: Path, script_file: Callable[[Any], str]
) -> None:
    tok_dir = tmp_path / "tok"
    tokenizer.save_pretrained(tok_dir)
    turns = tmp_path / "turns.json"
    turns.write_text(json.dumps([SKETCH, ANSWER]))  # every sample ends in the same proof
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(p.model_dump_json() + "\n" for p in problems(["a1", "a2"])))
    repl = shlex.join(standin_command("--script", script_file(SCRIPT)))
    args = [
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
        "8",
        "--repl",
        repl,
        "--cache",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    result = runner.invoke(app, [*args, "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    # the two problems share their statement text and proof: one Lean check for all 8 samples
    assert "verdict cache: 7 hits, 1 misses of 8 final checks" in result.output
    report = runner.invoke(app, ["report", str(tmp_path / "run")])
    assert report.exit_code == 0, report.output
    assert "Verdict cache: 7 of 8 final checks" in (tmp_path / "run" / "report.md").read_text()

    again = runner.invoke(
        app, [*args, "--run-dir", str(tmp_path / "run2")]
    )  # a new run, same store
    assert "verdict cache: 8 hits, 0 misses of 8 final checks" in again.output
    off = runner.invoke(
        app, [*args[:-3], "--run-dir", str(tmp_path / "run3")]
    )  # --repl: off by default, and the summary says so rather than counting misses
    assert "verdict cache: off" in off.output and "misses" not in off.output


def test_final_checks_of_a_run(tmp_path: Path) -> None:
    store = RunStore.open(tmp_path, CONFIG)
    verdicts = [
        Verdict(outcome=Outcome.PROVED, elapsed=3.0),
        Verdict(outcome=Outcome.PROVED, cached=True, saved_seconds=3.0),
        Verdict(outcome=Outcome.LEAN_ERROR, cached=True, saved_seconds=1.5),
        None,
    ]
    for index, verdict in enumerate(verdicts):
        store.add(
            Trajectory(
                problem="a",
                prompt_text="x",
                prompt_ids=[1],
                sample_index=index,
                finish=Finish.ANSWERED,
                verdict=verdict,
            )
        )
    checks = store.final_checks()
    store.close()
    assert (checks.total, checks.cached, checks.saved_seconds) == (3, 2, 4.5)
