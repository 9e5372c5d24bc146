"""The README's exit-status table holds for every command: a user without Lean set up
gets 3 (no result: Lean cannot be used here) from check, prove, eval and lean selftest,
never 2 (input that cannot be used)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from stepprover.cli import app

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "mathd_algebra_10.lean"


def readme_table() -> dict[int, str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("Exit status, the same for every command", 1)[1].split("\n\n", 2)[1]
    rows = [line.split(" | ", 1) for line in table.splitlines()[2:]]
    return {int(status.strip("| ")): meaning for status, meaning in rows}


@pytest.mark.parametrize(
    "args",
    [
        ["check", str(EXAMPLE)],
        ["prove", "--model", "x", "--minif2f", "mathd_algebra_10"],
        ["eval", "--model", "x", "--limit", "1"],
        ["lean", "selftest"],
    ],
    ids=lambda a: a[0] if a[0] != "lean" else "selftest",
)
def test_without_lean_every_command_exits_3_as_the_table_says(
    args: list[str], tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, [*args, "--lean-dir", str(tmp_path / "no-lean")])
    said = " ".join(result.output.split())
    assert result.exit_code == 3, said
    assert "Lean is not set up" in said and "stepprover lean setup" in said, said
    assert "Traceback" not in said
    assert "Lean not set up (`check`, `prove`, `eval`, `lean selftest`)" in readme_table()[3]


def test_the_table_has_one_row_per_status() -> None:
    assert sorted(readme_table()) == [0, 1, 2, 3, 130]


def test_bad_input_is_2_and_a_missing_lean_is_not_input(tmp_path: Path) -> None:
    bad = CliRunner().invoke(app, ["check", str(tmp_path / "nothere.lean")])
    assert bad.exit_code == 2 and "does not exist" in bad.output
    doctor = CliRunner().invoke(app, ["lean", "doctor", "--lean-dir", str(tmp_path)])
    assert doctor.exit_code == 1  # the table's "something missing"
