"""The reference TIR text formats, byte for byte."""

from __future__ import annotations

from stepprover.agent.tir_format import (
    clean_sketch,
    crash_feedback,
    extract_final_proof,
    extract_sketch,
    reply_feedback,
    timeout_feedback,
)


def test_sketch_is_cut_from_the_first_sketch_tag() -> None:
    turn = "think <sketch>A</sketch>"
    assert extract_sketch(turn) == "A"
    assert extract_sketch("a <sketch>one <sketch>two</sketch>") == "one <sketch>two"
    assert extract_sketch("no tag</sketch>") is None


def test_cleanup_removes_only_import_mathlib_and_strips() -> None:
    sketch = "\nimport Mathlib\nimport Aesop\n\ntheorem x : True := trivial\n"
    assert clean_sketch(sketch) == "import Aesop\n\ntheorem x : True := trivial"


def test_feedback_bytes() -> None:
    reply = {
        "messages": [
            {
                "severity": "error",
                "pos": {"line": 1, "column": 2},
                "endPos": None,
                "data": "unsolved goals\n⊢ False",
            }
        ],
        "env": 3,
    }
    assert reply_feedback(reply) == (
        '\n<REPL>\n{"messages": [{"severity": "error", "pos": {"line": 1, "column": 2}, '
        '"endPos": null, "data": "unsolved goals\\n⊢ False"}]}\n</REPL>'
    )
    assert reply_feedback({"env": 5}) == "\n<REPL>\n{}\n</REPL>"
    assert timeout_feedback(60.50312352180481) == (
        "\n<REPL>\nrepl cannot return status in 60.50312352180481 seconds!\n</REPL>"
    )
    assert crash_feedback("boom\n") == '\n<REPL>\n{"repl_err": "boom\\n"}\n</REPL>'
    assert crash_feedback("Memory usage (15400.12MB) exceeded limit (15360MB)") == (
        '\n<REPL>\n{"repl_err": "Memory usage (15400.12MB) exceeded limit (15360MB)"}\n</REPL>'
    )


def test_final_proof_is_the_last_lean4_block_after_think() -> None:
    completion = (
        "```lean4\nbefore think\n```<sketch>x</sketch></think>\n"
        "Sketch:\n```lean4\ntheorem a : True := sorry\n```\nFinal:\n"
        "```lean4\nimport Mathlib\nimport Aesop\ntheorem a : True := by\n  trivial\n```"
    )
    assert extract_final_proof(completion) == "theorem a : True := by\n  trivial\n"
    assert extract_final_proof("```lean4\ntheorem a : True := trivial\n```") is None
    assert extract_final_proof("</think> no block") is None
