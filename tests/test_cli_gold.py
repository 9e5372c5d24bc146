"""`--gold` on `stepprover check` and `stepprover eval`, with a stand-in comparator and
stand-in lake installed where `stepprover lean setup --with-comparator` puts the real ones
(test programs, not comparator or Lake), and the stand-in REPL for the fast checks."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stepprover.cli import app
from stepprover.lean.toolchain import LeanSetup
from tests.conftest import standin_command
from tests.eval.test_store_and_runner import ANSWER, SKETCH, problems
from tests.eval.test_store_and_runner import SCRIPT as EVAL_SCRIPT
from tests.test_cli import EXAMPLES, SCRIPT

FAKES = Path(__file__).parent / "fakes"
runner = CliRunner()


def shim(path: Path, program: Path | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = (
        f'exec {shlex.quote(sys.executable)} {shlex.quote(str(program))} "$@"'
        if program
        else "exit 0"
    )
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def gold_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Stand-ins at the paths of an installed gold setup; returns the CLI's environment."""
    # The stand-in landrun sandboxes nothing: do not depend on this kernel's Landlock.
    monkeypatch.setattr("stepprover.lean.gold.landlock_abi", lambda: 1)
    setup = LeanSetup(root=tmp_path / "lean", elan_home=tmp_path / "elan")
    shim(setup.elan_home / "bin" / "lake", FAKES / "standin_lake.py")
    shim(setup.comparator_binary, FAKES / "standin_comparator.py")
    shim(setup.landrun_binary, None)
    shim(setup.lean4export_binary, None)
    (setup.mathlib_dir / ".lake" / "packages").mkdir(parents=True)
    return {
        "ELAN_HOME": str(setup.elan_home),
        "STEPPROVER_LEAN_DIR": str(setup.root),
        "STANDIN_COMPARATOR_LOG": str(tmp_path / "builds.log"),
    }


def builds(env: dict[str, str]) -> list[str]:
    log = Path(env["STANDIN_COMPARATOR_LOG"])
    return log.read_text().split() if log.exists() else []


def repl_option(script_file: Callable[[Any], str], script: Any = SCRIPT) -> list[str]:
    return [
        "--repl",
        shlex.join(standin_command("--script", script_file(script))),
        "--workers",
        "1",
    ]


def test_check_gold_on_one_file(
    gold_install: dict[str, str], script_file: Callable[[Any], str]
) -> None:
    result = runner.invoke(
        app,
        [
            "check",
            str(EXAMPLES / "mathd_algebra_10.lean"),
            "--gold",
            "--statement",
            str(EXAMPLES / "mathd_algebra_10.statement.lean"),
            *repl_option(script_file),
        ],
        env=gold_install,
    )
    assert result.exit_code == 0, result.output
    assert "gold (comparator): proved" in result.output
    assert "1/1 proved by comparator" in result.output


def test_check_gold_jsonl_checks_each_distinct_accepted_proof_once(
    gold_install: dict[str, str], script_file: Callable[[Any], str], tmp_path: Path
) -> None:
    good = (EXAMPLES / "mathd_algebra_10.lean").read_text()
    statement = (EXAMPLES / "mathd_algebra_10.statement.lean").read_text()
    records = [
        {"id": "good", "code": good, "statement": statement},
        {"id": "same", "code": good, "statement": statement},
        # Passes the (stand-in) fast checks, refused by the (stand-in) kernel replay.
        {
            "id": "fools-fast",
            "code": good + "\n-- standin: kernel-reject\n",
            "statement": statement,
        },
        {"id": "no-statement", "code": good},
        {
            "id": "fails-fast",
            "code": good.replace("norm_num [abs_of_nonneg]", "linarith"),
            "statement": statement,
        },
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        app,
        ["check", str(path), "--jsonl", "--output", str(out), "--gold", *repl_option(script_file)],
        env=gold_install,
    )
    assert result.exit_code == 1, result.output
    verdicts = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert [verdicts[i]["outcome"] for i in ("good", "same", "fools-fast", "no-statement")] == [
        "proved"
    ] * 4
    assert verdicts["good"]["gold"]["outcome"] == "proved" == verdicts["same"]["gold"]["outcome"]
    assert verdicts["fools-fast"]["gold"]["outcome"] == "rejected"
    assert "kernel" in verdicts["fools-fast"]["gold"]["reason"]
    assert verdicts["no-statement"]["gold"]["outcome"] == "rejected"
    assert "gold" not in verdicts["fails-fast"]
    assert builds(gold_install) == ["Challenge", "Solution", "Solution"], "same text checked twice"
    assert "2/5 proved by comparator" in result.output


def test_check_gold_without_comparator_says_how_to_install(
    script_file: Callable[[Any], str], tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        [
            "check",
            str(EXAMPLES / "mathd_algebra_10.lean"),
            "--gold",
            "--lean-dir",
            str(tmp_path),
            *repl_option(script_file),
        ],
    )
    assert result.exit_code == 2
    assert "--with-comparator" in result.output and "landrun" in result.output


def test_eval_gold_rechecks_in_the_background_and_reports_both(
    gold_install: dict[str, str], script_file: Callable[[Any], str], tokenizer: Any, tmp_path: Path
) -> None:
    tok_dir = tmp_path / "tok"
    tokenizer.save_pretrained(tok_dir)
    turns = tmp_path / "turns.json"
    turns.write_text(json.dumps([SKETCH, ANSWER]))
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(p.model_dump_json() + "\n" for p in problems(["a1", "a2", "bad1"])))
    run = tmp_path / "run"
    command = [
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
        "2",
        "--run-dir",
        str(run),
        "--gold",
        *repl_option(script_file, EVAL_SCRIPT),
    ]
    result = runner.invoke(app, command, env=gold_install)
    assert result.exit_code == 0, result.output
    # Four accepted samples, one distinct (statement, proof) text: comparator ran once.
    assert builds(gold_install) == ["Challenge", "Solution"]
    assert "gold (comparator) 66.7%" in result.output
    again = runner.invoke(app, command, env=gold_install)
    assert again.exit_code == 0, again.output
    assert builds(gold_install) == ["Challenge", "Solution"], "a resumed eval re-checked"
    report = runner.invoke(app, ["report", str(run)])
    assert report.exit_code == 0, report.output
    text = (run / "report.md").read_text()
    assert "## Gold-standard verification (comparator)" in text
    assert "accepted samples; comparator: proved 4" in text
