"""Answer slots: a statement's answer definitions, given by the proof (scripted Lean replies;
no Lean runs here). Statement text: trishullab/PutnamBench 3c9b926 lean4/src/putnam_2020_a1.lean
(its final `sorry` replaced by `by`), as bundled in putnambench.jsonl."""

from __future__ import annotations

from typing import Any

import pytest

from stepprover.data.problems import Problem
from stepprover.lean.answers import answer_slots
from stepprover.lean.protocol import reply_from_json
from stepprover.lean.source import scan
from stepprover.lean.verify import Outcome, Plan, judge, plan

HEADER = "import Mathlib\n\n"
THEOREM = (
    "theorem putnam_2020_a1\n: Set.ncard {x : ℕ | (2020 ∣ x) ∧ (Nat.log 10 x) + 1 ≤ 2020 ∧ "
    "(∃ k l, k ≥ l ∧ x = ∑ i ∈ Finset.range (k-l+1), 10 ^ (i+l))} = putnam_2020_a1_solution := by\n"
)
FOUND = "abbrev putnam_2020_a1_solution : ℕ := sorry\n-- 508536\n" + THEOREM
PROBLEM = Problem(
    name="putnam_2020_a1",
    header=HEADER,
    formal_statement=FOUND,
    answers=({"name": "putnam_2020_a1_solution", "value": "508536"},),  # type: ignore[arg-type]
)
GIVEN = PROBLEM.with_answers_given().formal_statement


def proof(value: str, *, definition: str = "abbrev putnam_2020_a1_solution : ℕ") -> str:
    return HEADER + f"{definition} := {value}\n" + THEOREM + "  sorry_free_tactic\n"


def planned(code: str, statement: str) -> Plan:
    # a fixed reference name (each check's is fresh) to compare the command with
    result = plan(code, HEADER + statement, reference_name="stepprover_reference_statement")
    assert isinstance(result, Plan), result
    return result


def test_the_given_track_fills_in_the_published_answer() -> None:
    assert GIVEN.startswith(
        "noncomputable abbrev putnam_2020_a1_solution : ℕ := 508536\n-- 508536\n"
    )
    assert GIVEN.endswith(THEOREM)


def test_a_slot_becomes_a_variable_of_the_reference_theorem() -> None:
    p = planned(proof("508536"), FOUND)
    reference = p.command[: p.command.index("\nend\n")]
    assert "variable (putnam_2020_a1_solution : ℕ)" in reference
    assert (
        "noncomputable abbrev _root_.stepprover_reference_statement_answer_1 : ℕ := sorry"
        in reference
    )
    assert "abbrev putnam_2020_a1_solution" not in reference, "the statement defines nothing"
    probe = p.command.splitlines()[p.probe_line - 1 :]
    assert probe == [
        "#guard_expr type_of% (@_root_.stepprover_reference_statement "
        "(putnam_2020_a1_solution := @_root_.putnam_2020_a1_solution)) "
        "=ₐ type_of% @_root_.putnam_2020_a1",
        "#guard_expr type_of% @_root_.putnam_2020_a1_solution "
        "=ₐ type_of% @_root_.stepprover_reference_statement_answer_1",
        "#print axioms _root_.putnam_2020_a1",
    ]
    assert p.answer_checks == 1


def test_a_given_answer_is_also_compared_by_value() -> None:
    p = planned(
        proof("508536", definition="noncomputable abbrev putnam_2020_a1_solution : ℕ"), GIVEN
    )
    assert ":= 508536\nvariable (putnam_2020_a1_solution : ℕ)" in p.command
    probe = p.command.splitlines()[p.probe_line - 1 :]
    assert probe[2] == (
        "#guard_expr @_root_.putnam_2020_a1_solution = "
        "@_root_.stepprover_reference_statement_answer_1"
    )
    assert p.answer_checks == 2 and probe[3] == "#print axioms _root_.putnam_2020_a1"


@pytest.mark.parametrize(
    ("code", "refused"),
    [
        # only the statement's answers may be defined
        (proof("508536").replace("putnam_2020_a1_solution :", "helper :", 1), "`abbrev`"),
        (HEADER + "def other : ℕ := 1\n" + FOUND.replace(":= sorry", ":= 1"), "`def`"),
        # the reference copies are the verifier's
        (proof("stepprover_reference_statement_answer_1"), "stepprover_reference_statement"),
        (proof("1", definition="instance putnam_2020_a1_solution : Inhabited ℕ"), "`instance`"),
    ],
)
def test_the_proof_may_define_exactly_the_answers(code: str, refused: str) -> None:
    result = plan(code, HEADER + FOUND)
    assert isinstance(result, str) and refused in result, result


def test_without_a_statement_no_definition_is_allowed() -> None:
    result = plan(proof("508536"), None)
    assert isinstance(result, str) and "`abbrev`" in result


def test_a_def_may_give_a_found_answer() -> None:
    assert planned(proof("508536", definition="def putnam_2020_a1_solution : ℕ"), FOUND)


@pytest.mark.parametrize(
    ("statement", "why"),
    [
        ("abbrev s := 1\n" + THEOREM, "abbrev NAME : TYPE := VALUE"),
        ("@[simp] abbrev s : ℕ := 1\n" + THEOREM, "no attribute or modifier"),
        ("private abbrev s : ℕ := 1\n" + THEOREM, "no attribute or modifier"),
        ("abbrev A.s : ℕ := 1\n" + THEOREM, "one plain component"),
    ],
)
def test_other_definitions_in_a_statement_are_refused(statement: str, why: str) -> None:
    result = plan(proof("508536"), HEADER + statement)
    assert isinstance(result, str) and why in result, result


def test_slots_span_their_definition_and_value() -> None:
    body = "noncomputable abbrev s : ℕ → ℝ := fun n => √n -- c\n/-- doc -/\n" + THEOREM
    (slot,) = answer_slots(body, scan(body))  # type: ignore[misc]
    assert (slot.name, slot.type, slot.value) == ("s", "ℕ → ℝ", "fun n => √n")
    assert body[slot.start : slot.end] == "noncomputable abbrev s : ℕ → ℝ := fun n => √n"


def reply(messages: list[tuple[str, int, str]]) -> Any:
    return reply_from_json(
        {
            "env": 1,
            "messages": [
                {"severity": s, "pos": {"line": n, "column": 0}, "endPos": None, "data": d}
                for s, n, d in messages
            ],
        }
    )


def test_judge_reads_the_answer_checks_and_the_axioms_after_them() -> None:
    p = planned(
        proof("508536", definition="noncomputable abbrev putnam_2020_a1_solution : ℕ"), GIVEN
    )
    axioms = p.probe_line + 1 + p.answer_checks
    ok = judge(reply([("info", axioms, "'putnam_2020_a1' depends on axioms: [propext]")]), p)
    assert ok.outcome is Outcome.PROVED, ok
    # Lean's `#guard_expr` failure (src/Lean/Elab/Tactic/GuardExpr.lean, evalGuardExprCmd)
    failed = "failed: @_root_.putnam_2020_a1_solution = @_root_.x is not true"
    wrong = judge(
        reply([("error", p.probe_line + 2, failed), ("info", axioms, "'putnam_2020_a1' ...")]), p
    )
    assert wrong.outcome is Outcome.REJECTED
    assert wrong.reason.startswith("the proof's answer definitions are not the statement's")
    misplaced = judge(reply([("info", axioms - 1, "'putnam_2020_a1' depends on axioms: []")]), p)
    assert misplaced.outcome is Outcome.REJECTED and "no axioms report" in misplaced.reason


def test_a_found_answer_is_compared_with_the_published_one() -> None:
    # The answer-found track: the model sees `:= sorry`, and the verifier compares the proof
    # with the published answer filled in, so restating the problem as the answer (a set's
    # cardinality proved by `rfl`) is checked against 508536 and fails in Lean.
    assert PROBLEM.statement_text.endswith(FOUND)
    assert PROBLEM.verified_statement == HEADER + GIVEN
    restated = "Set.ncard {x : ℕ | (2020 ∣ x) ∧ (Nat.log 10 x) + 1 ≤ 2020}"
    p = planned(proof(restated), PROBLEM.verified_statement)
    probe = p.command.splitlines()[p.probe_line - 1 :]
    assert (
        "#guard_expr @_root_.putnam_2020_a1_solution = "
        "@_root_.stepprover_reference_statement_answer_1"
    ) in probe
    assert ":= 508536\nvariable (putnam_2020_a1_solution : ℕ)" in p.command
    # a statement without answers, or with them filled in, is compared as it is
    given = PROBLEM.with_answers_given()
    assert given.verified_statement == given.statement_text
    plain = Problem(name="t", formal_statement="theorem t : True := by\n")
    assert plain.verified_statement == plain.statement_text


def test_found_answers_without_a_published_one_are_said_to_be_unchecked() -> None:
    from stepprover.data.problems import benchmark_description

    combibench = benchmark_description("combibench-test") or ""
    assert "45 problems have answer definitions without a published answer" in combibench
    assert "upper bound" in combibench
    assert "WARNING" not in (benchmark_description("putnambench-found") or "")
