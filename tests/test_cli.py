"""The `stepprover` command line, run as a user would (the REPL is the stand-in)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from stepprover.cli import app
from tests.conftest import standin_command

runner = CliRunner()
EXAMPLES = Path(__file__).parent.parent / "examples"
AXIOMS = {
    "severity": "info",
    "pos": {"line": -2, "column": 0},
    "endPos": None,
    "data": "'mathd_algebra_10' depends on axioms: [propext, Classical.choice, Quot.sound]",
}
TYPE = {
    "severity": "info",
    "pos": {"line": -3, "column": 0},
    "endPos": None,
    "data": "@mathd_algebra_10 : @Eq.{1} Real (abs ...) 10",
}
REF_TYPE = {**TYPE, "pos": {"line": -2, "column": 0}}
SCRIPT = [
    ["sorry\n\nset_option pp.all", {"messages": [REF_TYPE]}],
    ["norm_num [abs_of_nonneg]", {"messages": [TYPE, AXIOMS]}],
    [
        "linarith",
        {
            "messages": [
                {
                    "severity": "error",
                    "pos": {"line": 5, "column": 2},
                    "endPos": None,
                    "data": "linarith failed",
                }
            ]
        },
    ],
]


def repl_option(script_file: Callable[[Any], str]) -> list[str]:
    return [
        "--repl",
        shlex.join(standin_command("--script", script_file(SCRIPT))),
        "--workers",
        "1",
    ]


def test_check_a_file_with_its_statement(script_file: Callable[[Any], str]) -> None:
    result = runner.invoke(
        app,
        [
            "check",
            str(EXAMPLES / "mathd_algebra_10.lean"),
            "--statement",
            str(EXAMPLES / "mathd_algebra_10.statement.lean"),
            *repl_option(script_file),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "proved" in result.stdout.splitlines(), result.stdout  # the line a script reads, whole


def test_check_jsonl_with_bad_lines(script_file: Callable[[Any], str], tmp_path: Path) -> None:
    good = (EXAMPLES / "mathd_algebra_10.lean").read_text()
    lines = [
        json.dumps({"id": "good", "code": good}).encode(),
        json.dumps(
            {"id": "bad", "code": good.replace("norm_num [abs_of_nonneg]", "linarith")}
        ).encode(),
        b"{not json",
        b'{"id": "x", "code": "\xff"}',
        json.dumps({"id": "nocode"}).encode(),
    ]
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        app, ["check", str(path), "--jsonl", "--output", str(out), *repl_option(script_file)]
    )
    assert result.exit_code == 1, result.output
    # Written as each verdict is reached (completion order), one record per input line.
    records = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert len(out.read_text().splitlines()) == 5
    assert {k: r["outcome"] for k, r in records.items()} == {
        "good": "proved",
        "bad": "lean_error",
        "3": "rejected",
        "4": "rejected",
        "nocode": "rejected",
    }
    assert records["3"]["reason"].startswith("line 3:")
    assert records["bad"]["messages"][0]["pos"]["line"] == 7  # file coordinates


def test_check_without_lean_says_what_is_missing(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["check", str(EXAMPLES / "mathd_algebra_10.lean"), "--lean-dir", str(tmp_path)]
    )
    assert result.exit_code == 3  # no verdict: Lean cannot be used here
    assert "Lean is not set up" in result.output and "stepprover lean setup" in result.output


def test_doctor_and_dry_run(tmp_path: Path) -> None:
    result = runner.invoke(app, ["lean", "doctor", "--lean-dir", str(tmp_path)])
    assert result.exit_code == 1 and "missing" in result.output
    result = runner.invoke(app, ["lean", "setup", "--dry-run", "--lean-dir", str(tmp_path)])
    assert result.exit_code == 0 and "[todo] build the REPL" in result.output


def test_setup_with_comparator_dry_run_and_doctor(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["lean", "setup", "--dry-run", "--with-comparator", "--lean-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "[todo] build comparator" in result.output and "landrun@v0.1.17" in result.output
    result = runner.invoke(
        app,
        [
            "lean",
            "setup",
            "--dry-run",
            "--with-comparator",
            "--lean-dir",
            str(tmp_path),
            "--lean-version",
            "v4.24.0",
        ],
    )
    assert result.exit_code == 2 and "no comparator/lean4export pins" in result.output
    result = runner.invoke(
        app, ["lean", "doctor", "--with-comparator", "--lean-dir", str(tmp_path)]
    )
    assert result.exit_code == 1 and "comparator" in result.output and "Landlock" in result.output


def test_setup_stops_early_with_a_clear_message_when_offline(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("STEPPROVER_DOWNLOAD_PROBE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ELAN_HOME", str(tmp_path / "elan"))
    result = runner.invoke(app, ["lean", "setup", "--lean-dir", str(tmp_path)])
    assert result.exit_code == 3  # Lean cannot be set up here (README, exit status)
    assert "cannot reach http://127.0.0.1:9" in result.output
    assert not (tmp_path / "elan").exists(), "nothing is attempted once the host is unreachable"


def test_check_under_the_sandbox(sandbox_standin: Path) -> None:
    import json
    import uuid

    # Outside /tmp: the sandbox gives the REPL a private, empty /tmp.
    script = Path("/var/tmp") / f"stepprover-test-{uuid.uuid4().hex}.json"
    script.write_text(json.dumps(SCRIPT))
    script.chmod(0o644)
    try:
        repl = shlex.join(["/usr/bin/python3", str(sandbox_standin), "--script", str(script)])
        result = runner.invoke(
            app,
            [
                "check",
                str(EXAMPLES / "mathd_algebra_10.lean"),
                "--statement",
                str(EXAMPLES / "mathd_algebra_10.statement.lean"),
                "--repl",
                repl,
                "--workers",
                "1",
                "--sandbox",
            ],
        )
    finally:
        script.unlink()
    assert result.exit_code == 0, result.output


def test_check_with_the_verdict_cache(script_file: Callable[[Any], str], tmp_path: Path) -> None:
    args = [
        "check",
        str(EXAMPLES / "mathd_algebra_10.lean"),
        "--statement",
        str(EXAMPLES / "mathd_algebra_10.statement.lean"),
        *repl_option(script_file),
        "--cache-dir",
        str(tmp_path),
    ]
    off = runner.invoke(app, args)  # under --repl the cache is off unless --cache is given
    assert off.exit_code == 0, off.output
    assert "verdict cache" not in off.output and not (tmp_path / "verdicts.sqlite").exists()
    first = runner.invoke(app, [*args, "--cache"])
    second = runner.invoke(app, [*args, "--cache"])
    assert first.exit_code == second.exit_code == 0, second.output
    assert "0 hits" in first.output and "1 misses" in first.output
    assert "1 hits" in second.output and "0 misses" in second.output
    assert "proved" in second.output
