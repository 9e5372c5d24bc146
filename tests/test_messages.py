"""Messages a newcomer reads, as they read them: where a problem the benchmark lacks is,
help texts that say defaults plainly, the doctor's root check, the setup plan's commands."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stepprover.agent.display import summary_line
from stepprover.agent.trajectory import Finish, ReplCall, Trajectory
from stepprover.cli import app
from stepprover.lean.outcome import CommandStatus

runner = CliRunner()


def test_a_problem_of_another_split_says_where_it_is() -> None:
    result = runner.invoke(app, ["eval", "--model", "x", "--problems", "mathd_algebra_10"])
    said = " ".join(result.output.split())
    assert result.exit_code == 2, said
    assert "no problem named 'mathd_algebra_10' in --benchmark minif2f-test (244 problems)" in said
    assert "'mathd_algebra_10' is in minif2f-valid" in said
    assert "pass --benchmark minif2f-valid" in said


def test_setup_help_shows_defaults_without_parentheses() -> None:
    said = " ".join(
        runner.invoke(app, ["lean", "setup", "--help"], env={"COLUMNS": "200"}).output.split()
    )
    assert "(default v4.20.0-rc5)" in said and "(default bump_to_v4.20.1)" in said
    assert "[default: (" not in said


def test_dry_run_shows_commands_as_typed() -> None:
    said = runner.invoke(app, ["lean", "setup", "--dry-run", "--lean-dir", "/nonexistent/x"]).output
    assert """sh -c "printf '%s\\n' 'leanprover/lean4:v4.20.0-rc5' > lean-toolchain\"""" in said
    assert "'\"'\"'" not in said


@pytest.mark.skipif(os.geteuid() != 0, reason="the check is about running as root")
def test_doctor_calls_root_root(tmp_path: Path) -> None:
    said = runner.invoke(
        app, ["lean", "doctor", "--lean-dir", str(tmp_path)], env={"COLUMNS": "200"}
    )
    row = next(line for line in said.output.splitlines() if "unprivileged user" in line)
    assert "running as root" in row and "missing" not in row


def test_compare_help_is_whole_sentences() -> None:
    listing = runner.invoke(app, ["--help"], env={"COLUMNS": "80"}).output
    lines = listing.splitlines()
    row = next(i for i, line in enumerate(lines) if " compare " in line)
    assert lines[row].rstrip(" │").endswith("the paired difference in pass@1."), lines[row]
    assert lines[row + 1].split()[1] == "serve", "its help is one row"


def test_one_repl_call_is_singular() -> None:
    trajectory = Trajectory(problem="p", prompt_text="", prompt_ids=[1], finish=Finish.ANSWERED)
    call = ReplCall(sketch="s", status=CommandStatus.OK, reply={}, feedback="f", latency=0.0,
                    context_tokens=1)  # fmt: skip
    assert "[0 REPL calls, 1 context token]" in summary_line(trajectory).plain
    trajectory.repl_calls.append(call)
    assert "[1 REPL call, 1 context token]" in summary_line(trajectory).plain


def test_a_sandbox_that_refuses_the_repl_names_the_way_out() -> None:
    import sys

    env = {
        "STEPPROVER_SERVICE_REPL_COMMAND": f"{sys.executable} relative/repl.py",
        "STEPPROVER_SERVICE_SANDBOX": "true",
    }
    result = runner.invoke(app, ["serve", "--port", "0"], env=env)
    said = " ".join(result.output.split())
    assert result.exit_code == 2, said
    assert "--no-sandbox" in said and "STEPPROVER_SERVICE_SANDBOX=false" in said, said
