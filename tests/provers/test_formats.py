"""Baseline provers' published formats, byte for byte (docs/baselines.md)."""

from __future__ import annotations

from stepprover.data.problems import find_problem, load_minif2f
from stepprover.lean.protocol import Message
from stepprover.lean.verify import Outcome, Verdict
from stepprover.provers import deepseek, goedel, kimina
from stepprover.provers.styles import KIMINA, Attempt

ALG10 = find_problem(load_minif2f("valid"), "mathd_algebra_10")
ALG478 = find_problem(load_minif2f("test"), "mathd_algebra_478")
THM478 = (
    "theorem mathd_algebra_478 (b h v : ℝ) (h₀ : 0 < b ∧ 0 < h ∧ 0 < v) "
    "(h₁ : v = 1 / 3 * (b * h))\n"
    "    (h₂ : b = 30) (h₃ : h = 13 / 2) : v = 65 := by"
)
PLAN = (
    "Before producing the Lean 4 code to formally prove the given theorem, provide a detailed "
    "proof plan outlining the main proof steps and strategies.\nThe plan should highlight key "
    "ideas, intermediate lemmas, and proof structures that will guide the construction of the "
    "final formal proof."
)


def test_deepseek_v2_cot_prompt_is_the_readme_example() -> None:
    readme_statement = (
        "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\nopen BigOperators Real Nat "
        "Topology Rat\n\n/-- What is the positive difference between $120\\%$ of 30 and "
        "$130\\%$ of 20? Show that it is 10.-/\ntheorem mathd_algebra_10 : "
        "abs ((120 : ℝ) / 100 * 30 - 130 / 100 * 20) = 10 := by\n  sorry"
    )
    assert deepseek.formal_statement(ALG10) == readme_statement
    assert deepseek.cot_prompt(ALG10) == (
        f"Complete the following Lean 4 code:\n\n```lean4\n{readme_statement}\n```\n\n{PLAN}"
    )
    assert deepseek.non_cot_prompt(ALG10) == (
        f"Complete the following Lean 4 code:\n\n```lean4\n{readme_statement}\n```"
    )


def test_dpskcot_extraction_takes_the_last_block_and_prepends_the_header() -> None:
    output = (
        "### Lean 4 Proof with `have` Statements\n```lean4\ntheorem x : True := by\n  sorry\n```\n"
        "### Complete Lean 4 Proof\n```lean4\ntheorem x : True := by\n  trivial\n```"
    )
    assert goedel.extract_code(output) == deepseek.DSP_HEADER + "theorem x : True := by\n  trivial"
    assert goedel.extract_code("no code") is None


def test_goedel_prompt_is_the_rendered_example() -> None:
    assert goedel.prompt(ALG478) == (
        "Complete the following Lean 4 code:\n\n```lean4\n"
        + ALG478.header
        + ALG478.informal_prefix
        + THM478
        + " sorry```\n\n"
        + PLAN
    )


def test_goedel_error_string_is_the_rendered_example() -> None:
    code = THM478 + "\n  rw [h₁, h₂, h₃]\n  nlinarith [foo]\n"
    errors = [
        {
            "pos": {"line": 4, "column": 13},
            "endPos": {"line": 4, "column": 16},
            "data": "unknown identifier 'foo'",
        }
    ]
    expected = (
        "\nError 1:\n\nCorresponding Code:\n```lean4\n" + THM478 + "\n  rw [h₁, h₂, h₃]\n"
        "  nlinarith [<error>foo</error>]\n\n\n```\n\nError Message: unknown identifier 'foo'\n"
    )
    assert goedel.error_string(code, errors) == expected
    assert goedel.correction_prompt(0, expected) == (
        "The proof (Round 0) is not correct. Following is the compilation error message, where we "
        "use <error></error> to signal the position of the error.\n\n" + expected + "\n\nBefore "
        "producing the Lean 4 code to formally prove the given theorem, provide a detailed "
        "analysis of the error message."
    )


def test_goedel_error_string_limits() -> None:
    code = "\n".join(f"line{i}" for i in range(30))
    long_span = [
        {"pos": {"line": 2, "column": 1}, "endPos": {"line": 12, "column": 2}, "data": "m"}
    ]
    text = goedel.error_string(code, long_span)
    assert (
        "l<error>ine1\nline2\n" in text
        and "line6\n\n... --[Truncated]-- ...\nli</error>ne11\nline12\n" in text
    )
    many = [
        {"pos": {"line": i + 1, "column": 0}, "endPos": None, "data": f"e{i}"} for i in range(10)
    ]
    text = goedel.error_string(code, many)
    assert "Error 8:" in text and "Error 9:" not in text
    assert text.endswith("\n... [Omitted 2 more errors] ...\n")


def test_goedel_compile_filter() -> None:
    code = "import Mathlib\nset_option x 1\n\ntheorem t : True := by\n  open Nat in\n  trivial"
    assert goedel.compiled_code(code) == "\ntheorem t : True := by\n  trivial"


KIMINA_CODE = (
    goedel.DSP_HEADER.rstrip("\n") + "\n\n" + THM478 + "\n  rw [h₁, h₂, h₃]\n  nlinarith [foo]"
)
GOALS = (
    "b h v : ℝ\nh₀ : 0 < b ∧ 0 < h ∧ 0 < v\nh₁ : v = 1 / 3 * (b * h)\nh₂ : b = 30\n"
    "h₃ : h = 13 / 2\n⊢ 1 / 3 * (30 * (13 / 2)) = 65"
)
KIMINA_EXAMPLE = (
    "# Error 1:\nGoals state before error position: \n" + GOALS + "\n\nError message: \n"
    "unknown identifier 'foo'\n\nLean 4 code snippet with error:\n```lean4\n"
    "006  | theorem mathd_algebra_478 (b h v : ℝ) (h₀ : 0 < b ∧ 0 < h ∧ 0 < v) "
    "(h₁ : v = 1 / 3 * (b * h))\n"
    "007  |     (h₂ : b = 30) (h₃ : h = 13 / 2) : v = 65 := by\n"
    "008 >|   rw [h₁, h₂, h₃]\n009  |   nlinarith [foo]\n```\n"
)


def test_kimina_tool_message_is_the_rendered_example_with_its_line_quirk() -> None:
    error = {
        "severity": "error",
        "pos": {"line": 8, "column": 13},
        "endPos": {"line": 8, "column": 16},
        "data": "unknown identifier 'foo'",
    }
    infotree = [
        {
            "node": {
                "stx": {
                    "range": {"start": {"line": 1, "column": 0}, "finish": {"line": 9, "column": 0}}
                },
                "goalsBefore": ["outer"],
            },
            "children": [
                {
                    "node": {
                        "stx": {
                            "range": {
                                "start": {"line": 8, "column": 13},
                                "finish": {"line": 8, "column": 16},
                            }
                        },
                        "goalsBefore": [GOALS],
                    }
                }
            ],
        }
    ]
    assert (
        kimina.tool_message(KIMINA_CODE, {"messages": [error], "infotree": infotree})
        == KIMINA_EXAMPLE
    )
    assert kimina.server_line_offset(KIMINA_CODE) == 3
    assert kimina.tool_message(KIMINA_CODE, {"messages": []}, "timed out") == (
        "# System Error:\nError message: \ntimed out\n\n"
    )


def test_kimina_feedback_maps_file_positions_to_the_server_body() -> None:
    message = Message.model_validate(
        {
            "severity": "error",
            "pos": {"line": 11, "column": 13},
            "endPos": {"line": 11, "column": 16},
            "data": "unknown identifier 'foo'",
        }
    )
    verdict = Verdict(outcome=Outcome.LEAN_ERROR, reason="x", messages=[message], reply={})
    assert KIMINA.feedback is not None
    text = KIMINA.feedback(Attempt(ALG478, KIMINA_CODE, verdict, 0, 60.0))
    assert text == KIMINA_EXAMPLE.replace(
        "Goals state before error position: \n" + GOALS + "\n\n", ""
    )


def test_kimina_prompt_and_extraction() -> None:
    assert kimina.prompt(ALG478) == (
        "Think about and solve the following problems step by step in Lean 4.\n\n# Problem:\n"
        + ALG478.informal_prefix.strip()
        + "\n\n# Formal Statement:\n```lean4\n"
        + ALG478.header
        + THM478
        + "\n```\n"
    )
    output = (
        "<think>...</think>\n```lean4\nimport Mathlib\n"
        + THM478.replace("v = 65", "v = 1")
        + "\n  simp\n```\n```lean4\n-- "
        + THM478
        + "\nnot this\n```"
    )
    assert kimina.extract_proof(output, ALG478) is None, (
        "the statement changed; a commented one is skipped"
    )
    good = "<think>x</think>\n```lean4\nimport Mathlib\n" + THM478 + "\n  norm_num [h₁]\n```"
    assert kimina.extract_proof(good, ALG478) == ALG478.header + THM478 + "\n  norm_num [h₁]"
