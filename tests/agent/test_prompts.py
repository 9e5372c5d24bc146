"""Prompts rendered with the model's own chat template; stop ids from the tokenizer."""

from __future__ import annotations

from typing import Any

import pytest

from stepprover.agent.prompts import (
    STEPFUN_SYSTEM_PROMPT,
    STEPFUN_TIR,
    stop_token_ids,
    tir_style,
)
from stepprover.data.problems import Problem, find_problem, load_minif2f


def test_reference_prompt_bytes(tokenizer: Any) -> None:
    problem = find_problem(load_minif2f("valid"), "mathd_algebra_10")
    text = STEPFUN_TIR.render(tokenizer, problem)
    statement = (problem.header + problem.formal_statement).strip()
    assert text == (
        "<｜begin▁of▁sentence｜>"
        + STEPFUN_SYSTEM_PROMPT
        + "<｜User｜>```lean4\n"
        + statement
        + "\n```<｜Assistant｜><think>\n"
    )
    assert statement.endswith(":= by") and "sorry" not in statement


def test_system_prompt_is_the_reference_text() -> None:
    assert STEPFUN_SYSTEM_PROMPT.startswith("You will be given an unsolved Lean 4 problem.")
    assert "between <sketch> and </sketch>" in STEPFUN_SYSTEM_PROMPT
    assert STEPFUN_SYSTEM_PROMPT.endswith("complete and correct solution.")


def test_stop_ids_are_resolved_from_the_tokenizer(tokenizer: Any) -> None:
    eos = tokenizer.eos_token_id
    sketch_close = tokenizer.convert_tokens_to_ids("</sketch>")
    assert stop_token_ids(tokenizer) == [eos, sketch_close]
    assert stop_token_ids(tokenizer, tool_use=False) == [eos]


def test_tokenizer_without_sketch_token_is_refused(tokenizer: Any) -> None:
    class Plain:
        eos_token_id = 0

        def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
            return [ord(c) for c in text]

    with pytest.raises(ValueError, match="no single token '</sketch>'"):
        stop_token_ids(Plain())  # type: ignore[arg-type]


def test_unknown_style() -> None:
    with pytest.raises(ValueError, match="stepfun-tir"):
        tir_style("nope")


def test_problem_helpers() -> None:
    p = Problem(name="x", header="import Mathlib\n\n", formal_statement="theorem x : True := by\n")
    assert (
        p.with_proof("theorem x : True := trivial")
        == "import Mathlib\n\ntheorem x : True := trivial"
    )
    assert len(load_minif2f("test")) == 244 and len(load_minif2f("valid")) == 244


def test_bundled_benchmarks_and_lean_version_warnings() -> None:
    from stepprover.data.problems import lean_version_warning, load_benchmark

    for spec, count in [
        ("minif2f-test", 244),
        ("minif2f-valid", 244),
        ("minif2f-goedel-v2-test", 244),
        ("minif2f-yangky11-test", 244),
        ("proofnet-test", 186),
        ("proofnet-valid", 185),
    ]:
        problems, path, split = load_benchmark(spec)
        assert len(problems) == count and path.exists() and split == spec.rsplit("-", 1)[1]
    for spec, count in [
        ("putnambench-given", 672),
        ("putnambench-found", 672),
        ("combibench-test", 100),
    ]:
        problems, path, split = load_benchmark(spec)
        assert len(problems) == count and path.exists() and split is None
    assert lean_version_warning("minif2f-test", "v4.20.0-rc5") is None
    assert "v4.24.0" in (lean_version_warning("minif2f-yangky11-test", "v4.20.0-rc5") or "")
    assert "unknown" in (lean_version_warning("minif2f-test", None) or "")
    assert lean_version_warning("my.jsonl", "v4.20.0-rc5") is None
    assert "v4.27.0" in (lean_version_warning("putnambench-given", "v4.20.0-rc5") or "")
