"""How the preflight reads the REPL's answer to a statement (REPL/Main.lean runCommand at
branch bump_to_v4.20.1: a command that throws is answered {"message": <exception>}, with no
"Lean error:" prefix; only tactic-mode answers carry it)."""

from __future__ import annotations

from stepprover.eval.runner import _judgement
from stepprover.lean.outcome import CommandOutcome, CommandStatus


def ok(reply: dict[str, object]) -> CommandOutcome:
    return CommandOutcome(status=CommandStatus.OK, reply=reply)


def test_a_command_that_throws_is_lean_judging_the_statement() -> None:
    assert _judgement(ok({"message": "(kernel) deep recursion detected"})) == (
        False,
        "(kernel) deep recursion detected",
    )


def test_an_unknown_environment_is_no_judgement() -> None:
    assert _judgement(ok({"message": "Unknown environment."})) is None


def test_errors_in_messages_and_a_clean_reply() -> None:
    pos = {"line": 1, "column": 0}
    bad = {"messages": [{"severity": "error", "pos": pos, "endPos": pos, "data": "x"}], "env": 0}
    assert _judgement(ok(bad)) == (False, "x")
    assert _judgement(ok({"env": 0})) == (True, "")
