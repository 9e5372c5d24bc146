"""Verdicts and integrity checks, with scripted stand-in replies (the stand-in is not Lean)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from stepprover.lean.pool import ReplPool
from stepprover.lean.verify import LeanVerifier, Outcome, VerifyConfig
from tests.conftest import standin_pool_config

HEADER = "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen Real\n\n"
STATEMENT = HEADER + "theorem t1 (x : ℝ) (h : x = 2) : x + x = 4 := by\n"
TYPE = "@t1 : forall (x : Real), @Eq.{1} Real x (2 : Real) -> ..."
STD_AXIOMS = "'t1' depends on axioms: [propext,\n Classical.choice,\n Quot.sound]"


def msg(severity: str, line: int, data: str) -> dict[str, Any]:
    return {"severity": severity, "pos": {"line": line, "column": 0},
            "endPos": {"line": line, "column": 5}, "data": data}


def proof(tactic: str, name: str = "t1") -> str:
    return HEADER + f"theorem {name} (x : ℝ) (h : x = 2) : x + x = 4 := by\n  {tactic}\n"


SCRIPT = [
    # the reference statement, elaborated with sorry in a clean environment
    ["sorry\n\nset_option pp.all", {"messages": [msg("warning", 1, "declaration uses 'sorry'"),
                                                  msg("info", -2, TYPE)]}],
    ["case_ok", {"messages": [msg("info", -3, TYPE), msg("info", -2, STD_AXIOMS)]}],
    ["case_no_types", {"messages": [msg("info", -2, STD_AXIOMS)]}],
    ["case_error", {"messages": [msg("error", 2, "linarith failed"),
                                 msg("info", -2, STD_AXIOMS)]}],
    ["case_sorry_old", {"messages": [msg("warning", 1, "declaration uses 'sorry'"),
                                     msg("info", -2, "'t1' depends on axioms: [sorryAx]")]}],
    ["case_sorry_new", {"messages": [msg("warning", 1, "declaration uses `sorry`")]}],
    ["case_no_axioms_line", {"messages": [msg("info", -3, TYPE)]}],
    ["case_native", {"messages": [msg("info", -3, TYPE), msg(
        "info", -2, "'t1' depends on axioms: [propext, Lean.ofReduceBool]")]}],
    ["case_forged", {"messages": [msg("info", 2, "'t1' does not depend on any axioms"),
                                  msg("info", -3, TYPE)]}],
    ["case_other_type", {"messages": [msg("info", -3, "@t1 : forall (x : Real), FAKE"),
                                      msg("info", -2, STD_AXIOMS)]}],
    ["case_pure", {"messages": [msg("info", -3, TYPE), msg("info", -2, "'t1' does not depend on any axioms")]}],
    ["case_lean_error_reply", {"message": "Lean error:\nbad"}],
]


@pytest.fixture
async def verifier(script_file: Callable[[Any], str]) -> AsyncIterator[LeanVerifier]:
    config = standin_pool_config("--script", script_file(SCRIPT), workers=2)
    async with ReplPool(config) as pool:
        yield LeanVerifier(pool, VerifyConfig(timeout=2.0))


async def test_proved(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("nlinarith -- case_ok"), statement=STATEMENT)
    assert verdict.outcome is Outcome.PROVED, verdict.reason
    assert verdict.axioms == ["propext", "Classical.choice", "Quot.sound"]
    assert verdict.proved and verdict.elapsed > 0


async def test_no_axioms_at_all_is_fine(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("case_pure"), statement=STATEMENT)
    assert verdict.outcome is Outcome.PROVED and verdict.axioms == []


async def test_without_statement_checks_axioms_of_declared_theorems(verifier: LeanVerifier) -> None:
    assert (await verifier.check(proof("case_no_types"))).proved


async def test_lean_error_with_positions_in_file_coordinates(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("linarith -- case_error"), statement=STATEMENT)
    assert verdict.outcome is Outcome.LEAN_ERROR and verdict.reason == "linarith failed"
    # line 2 of the body is line 2 + 2 import lines of the file
    assert verdict.messages[0].pos.line == 4


async def test_lean_error_reply(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("case_lean_error_reply"))
    assert verdict.outcome is Outcome.LEAN_ERROR and "bad" in verdict.reason


@pytest.mark.parametrize("case", ["case_sorry_old", "case_sorry_new"])
async def test_sorry_in_both_quote_styles(verifier: LeanVerifier, case: str) -> None:
    verdict = await verifier.check(proof(f"exact sorry -- {case}"), statement=STATEMENT)
    assert verdict.outcome is Outcome.SORRY


async def test_missing_axioms_report_fails(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("case_no_axioms_line"), statement=STATEMENT)
    assert verdict.outcome is Outcome.REJECTED and "no axioms report" in verdict.reason


async def test_native_decide_axiom_fails(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("native_decide -- case_native"), statement=STATEMENT)
    assert verdict.outcome is Outcome.REJECTED and "Lean.ofReduceBool" in verdict.reason


async def test_axioms_report_printed_by_the_proof_itself_is_ignored(verifier: LeanVerifier) -> None:
    # e.g. `#print "'t1' does not depend on any axioms"` inside the proof: wrong lines, not trusted.
    verdict = await verifier.check(proof("case_forged"), statement=STATEMENT)
    assert verdict.outcome is Outcome.REJECTED and "no axioms report" in verdict.reason


async def test_statement_changed_by_redefinition_is_rejected(verifier: LeanVerifier) -> None:
    cheat = proof("norm_num -- case_other_type").replace(
        "theorem t1", "local notation \"ℝ\" => ℕ\ntheorem t1"
    )
    verdict = await verifier.check(cheat, statement=STATEMENT)
    assert verdict.outcome is Outcome.REJECTED and "does not prove the given statement" in verdict.reason


async def test_proof_of_another_theorem_is_rejected(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("case_ok", name="t2"), statement=STATEMENT)
    assert verdict.outcome is Outcome.REJECTED and "t1" in verdict.reason


async def test_prefilter_rejects_before_lean_runs(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("case_ok\n#exit"), statement=STATEMENT)
    assert verdict.outcome is Outcome.REJECTED and "#exit" in verdict.reason
    assert verdict.reply is None


async def test_timeout(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("-- standin:hang"), timeout=0.5)
    assert verdict.outcome is Outcome.TIMEOUT


async def test_crash_is_retried_once_then_reported(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("-- standin:crash"))
    assert verdict.outcome is Outcome.CRASH and verdict.attempts == 2
    assert "standin: crash requested" in verdict.reason
    assert (await verifier.check(proof("case_no_types"))).proved, "the pool keeps serving"


async def test_crash_retry_on_a_fresh_worker_can_succeed(
    verifier: LeanVerifier, tmp_path: Path
) -> None:
    flag = tmp_path / "crashed"
    verdict = await verifier.check(proof(f"-- standin:crash-once={flag} case_no_types"))
    assert verdict.proved and verdict.attempts == 2 and flag.exists()


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (b"theorem t1 : True := by\n  \xff\xfe", "not UTF-8"),
        ("theorem t1 : True := by\n" + "  -- pad\n" * 200_000, "over the"),
        ("import Mathlib\nimport Aesop\n\n", "empty"),
        ("", "empty"),
        ("example : True := trivial", "declares no theorem"),
    ],
)
async def test_bad_input_gets_a_clear_verdict(
    verifier: LeanVerifier, code: str | bytes, reason: str
) -> None:
    verdict = await verifier.check(code)
    assert verdict.outcome is Outcome.REJECTED and reason in verdict.reason
