"""The stand-in REPL (a test program, not Lean) reproduces the real REPL's transcripts."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from stepprover.lean.protocol import split_messages
from tests.conftest import TRANSCRIPTS, standin_command


def replayable() -> list[Path]:
    """Transcripts with an expected output whose requests need no missing .lean file."""
    out = []
    for path in sorted(TRANSCRIPTS.rglob("*.in")):
        if not path.with_name(path.name[:-3] + ".expected.out").exists():
            continue
        needs_file = re.search(r'"path"\s*:', path.read_text())
        if not needs_file:
            out.append(path)
    return out


def test_replayable_transcripts_found() -> None:
    assert len(replayable()) >= 60


@pytest.mark.parametrize("path", replayable(), ids=lambda p: str(p.relative_to(TRANSCRIPTS)))
def test_standin_answers_each_transcript_byte_for_byte(path: Path) -> None:
    expected = path.with_name(path.name[:-3] + ".expected.out").read_bytes()
    result = subprocess.run(
        standin_command("--transcript", str(path)),
        input=path.read_bytes(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


def test_standin_refuses_a_request_out_of_script() -> None:
    path = TRANSCRIPTS / "dup_sorries.in"
    result = subprocess.run(
        standin_command("--transcript", str(path)),
        input=b'{"cmd": "something else"}\n\n',
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert json.loads(split_messages(result.stdout.decode())[0]) == {
        "message": "standin: unexpected request 0"
    }


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
    result = subprocess.run(
        standin_command("--script", script_file(script)),
        input=requests,
        capture_output=True,
        timeout=30,
        check=False,
    )
    replies = [json.loads(t) for t in split_messages(result.stdout.decode())]
    assert replies[0] == {"env": 0}
    assert replies[1]["messages"][0]["pos"]["line"] == 3 and replies[1]["env"] == 1
    assert replies[2] == {"message": "Unknown environment."}
