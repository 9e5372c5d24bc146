"""The stand-in REPL (a test program, not Lean) reproduces the real REPL's transcripts, in
the pinned REPL's dialect (branch ``bump_to_v4.20.1``) by default and in v4.33.0-rc2's on
request, and reads its input as the real REPL does (``REPL/Main.lean``: ``getLines``,
``parse`` and ``loop``, at both revisions)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from stepprover.lean.protocol import split_messages
from tests.conftest import DIALECTS, TRANSCRIPT_SETS, standin_command


def replayable(dialect: str) -> list[Path]:
    """Transcripts with an expected output whose requests need no missing .lean file."""
    out = []
    for path in sorted(TRANSCRIPT_SETS[dialect].rglob("*.in")):
        if not path.with_name(path.name[:-3] + ".expected.out").exists():
            continue
        needs_file = re.search(r'"path"\s*:', path.read_text())
        if not needs_file:
            out.append(path)
    return out


CASES = [(d, p) for d in DIALECTS for p in replayable(d)]


def run(args: list[str], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        standin_command(*args), input=stdin, capture_output=True, timeout=30, check=False
    )


def replies(result: subprocess.CompletedProcess[bytes]) -> list[dict[str, object]]:
    return [json.loads(t) for t in split_messages(result.stdout.decode())]


@pytest.mark.parametrize(("dialect", "at_least"), [("v4.20.1", 45), ("v4.33.0-rc2", 60)])
def test_replayable_transcripts_found(dialect: str, at_least: int) -> None:
    assert len(replayable(dialect)) >= at_least


@pytest.mark.parametrize(("dialect", "path"), CASES, ids=lambda c: str(c).split("data/")[-1])
def test_standin_answers_each_transcript_byte_for_byte(dialect: str, path: Path) -> None:
    expected = path.with_name(path.name[:-3] + ".expected.out").read_bytes()
    result = run(["--dialect", dialect, "--transcript", str(path)], path.read_bytes())
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


def test_a_transcript_by_name_is_taken_from_the_pinned_dialect_by_default() -> None:
    # dup_msg: v4.20.1 prints `unknown identifier 'g'`, v4.33.0-rc2 "Unknown identifier `g`"
    name = "dup_msg"
    stdin = (TRANSCRIPT_SETS["v4.20.1"] / f"{name}.in").read_bytes()
    pinned = run(["--transcript", name], stdin)
    assert pinned.stdout == (TRANSCRIPT_SETS["v4.20.1"] / f"{name}.expected.out").read_bytes()
    assert b"unknown identifier 'g'" in pinned.stdout
    later = run(["--dialect", "v4.33.0-rc2", "--transcript", name], stdin)
    assert b"Unknown identifier `g`" in later.stdout


def test_the_recorded_dialects_differ_where_the_stand_in_says() -> None:
    """The differences the stand-in rewrites, and the parse error only v4.20.1 reports,
    are in the recorded outputs (not assumed)."""
    pinned, later = TRANSCRIPT_SETS["v4.20.1"], TRANSCRIPT_SETS["v4.33.0-rc2"]
    assert "declaration uses 'sorry'" in (pinned / "dup_sorries.expected.out").read_text()
    assert "declaration uses `sorry`" in (later / "dup_sorries.expected.out").read_text()
    assert "no goals to be solved" in (pinned / "no_goal_sorry_2.expected.out").read_text()
    assert "No goals to be solved" in (later / "no_goal_sorry_2.expected.out").read_text()
    unfinished = "unfinished_tactic_block.expected.out"
    assert "unexpected end of input; expected '{'" in (pinned / unfinished).read_text()
    assert "unexpected end of input" not in (later / unfinished).read_text()


@pytest.mark.parametrize(
    ("data", "v4_33"),
    [
        ("declaration uses 'sorry'", "declaration uses `sorry`"),
        ("unknown identifier 'foo'", "Unknown identifier `foo`"),
        ("no goals to be solved", "No goals to be solved"),
        ("unsolved goals\n⊢ False", "unsolved goals\n⊢ False"),
    ],
)
def test_scripted_texts_are_rewritten_into_the_chosen_dialect(
    script_file, data: str, v4_33: str
) -> None:
    pos = {"line": 1, "column": 0}
    script = {"*": {"messages": [{"severity": "error", "pos": pos, "endPos": pos, "data": data}]}}
    stdin = b'{"cmd": "x"}\n\n'
    for dialect, want in (("v4.20.1", data), ("v4.33.0-rc2", v4_33)):
        result = run(["--dialect", dialect, "--script", script_file(script)], stdin)
        assert replies(result)[0]["messages"][0]["data"] == want  # type: ignore[index]


def test_standin_refuses_a_request_out_of_script() -> None:
    path = TRANSCRIPT_SETS["v4.20.1"] / "dup_sorries.in"
    result = run(["--transcript", str(path)], b'{"cmd": "something else"}\n\n')
    assert replies(result)[0] == {"message": "standin: unexpected request 0"}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("stdin", "error"),
    [
        (b'{"cmd": "x"}\n\n{not json\n\n{"cmd": "y"}\n\n', "Could not parse JSON:"),
        # a second blank line is a query of its own ("\n"), which is no JSON
        (b'{"cmd": "x"}\n\n\n{"cmd": "y"}\n\n', "Could not parse JSON:"),
        (b'{"cmd": "x"}\n\n{"foo": 1}\n\n{"cmd": "y"}\n\n', "Could not parse as a valid JSON"),
    ],
)
def test_a_request_that_does_not_parse_ends_the_repl(
    dialect: str, stdin: bytes, error: str
) -> None:
    """REPL/Main.lean ``parse`` throws an IO.userError; ``loop`` and ``main`` do not catch
    it, so Lean's runtime prints ``uncaught exception: `` and the error (runtime/io.cpp,
    lean_io_result_show_error) and the program exits with 1: the request after it is
    never answered."""
    result = run(["--dialect", dialect], stdin)
    assert result.returncode == 1
    assert replies(result) == [{"env": 0}]
    err = result.stderr.decode()
    assert err.startswith("uncaught exception: {")
    assert json.loads(err[len("uncaught exception: ") :])["message"].startswith(error)


def test_comment_queries_get_no_reply_and_end_of_input_ends_the_repl() -> None:
    result = run([], b'-- a comment\n\n# a heading\n\n{"cmd": "x"}\n\n{"cmd": "y"}\n')
    assert result.returncode == 0
    assert replies(result) == [{"env": 0}, {"env": 1}]


def test_v4_33_joins_the_lines_of_a_request_without_their_ends(tmp_path: Path) -> None:
    """invalid_line_break (recorded at v4.33.0-rc2 only): a raw line break in a command
    string is dropped there (``trimAsciiEnd``), so `by` and `sorry` run together; v4.20.1's
    ``getLines`` keeps each line whole."""
    path = TRANSCRIPT_SETS["v4.33.0-rc2"] / "invalid_line_break.in"
    assert not (TRANSCRIPT_SETS["v4.20.1"] / "invalid_line_break.in").exists()
    later = run(["--dialect", "v4.33.0-rc2", "--transcript", str(path)], path.read_bytes())
    assert b"bysorry" in later.stdout
    for dialect, seen in (("v4.20.1", '{"cmd": "a  \nb"}'), ("v4.33.0-rc2", '{"cmd": "ab"}')):
        log = tmp_path / f"{dialect}.log"
        run(["--dialect", dialect, "--log", str(log)], b'{"cmd": "a  \nb"}\n\n')
        assert json.loads(log.read_text()) == seen


def test_scripted_mode_counts_environments_and_resolves_negative_lines(
    script_file,
) -> None:
    script = [
        [
            "bad",
            {
                "messages": [
                    {
                        "severity": "error",
                        "pos": {"line": -1, "column": 0},
                        "endPos": None,
                        "data": "boom",
                    }
                ]
            },
        ],
    ]
    requests = (
        b'{"cmd": "import Mathlib"}\n\n{"cmd": "a\\nb\\nbad", "env": 0}\n\n'
        b'{"cmd": "x", "env": 7}\n\n'
    )
    result = run(["--script", script_file(script)], requests)
    got = replies(result)
    assert got[0] == {"env": 0}
    assert got[1]["messages"][0]["pos"]["line"] == 3 and got[1]["env"] == 1  # type: ignore[index]
    assert got[2] == {"message": "Unknown environment."}
