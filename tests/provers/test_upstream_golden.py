"""The baselines against their upstream code, on outputs recorded by running it.

``golden/upstream.json`` was written by ``golden/make_golden.py``, which imports the
upstream files at the pinned commits (Goedel-LM/Goedel-Prover-V2 @ 2e9036e src/utils.py and
src/compile.py; project-numina/kimina-prover-rl @ e16b605 recipe/kimina_prover_rl/
kimina_prover_rl/reward/proof_utils.py and error_fixing.py; project-numina/kimina-lean-server
@ e3bb327 server/split.py) and records what they return on realistic inputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepprover.agent.trajectory import Trajectory
from stepprover.data.problems import find_problem, load_minif2f
from stepprover.eval.corrections import correction_parents
from stepprover.lean.protocol import Message
from stepprover.lean.verify import Outcome, Verdict
from stepprover.provers import goedel, kimina
from stepprover.provers.styles import (
    Attempt,
    deepseek_cot_extract,
    deepseek_noncot_extract,
    goedel_extract,
    goedel_feedback,
    kimina_feedback,
)

GOLDEN = json.loads((Path(__file__).parent / "golden" / "upstream.json").read_text())
PROBLEM = find_problem(load_minif2f("test"), GOLDEN["problem"])
HEADER_LINES = PROBLEM.header.count("\n")


def _messages(errors: list[dict[str, Any]], shift: int) -> list[Message]:
    """Upstream's message dicts as the verifier reports them: positions in the whole file."""

    def move(pos: dict[str, int] | None) -> dict[str, int] | None:
        return None if pos is None else {**pos, "line": pos["line"] + shift}

    return [
        Message.model_validate(
            {
                "severity": e.get("severity", "error"),
                "pos": move(e["pos"]),
                "endPos": move(e["endPos"]),
                "data": e["data"],
            }
        )
        for e in errors
    ]


@pytest.mark.parametrize("case", sorted(GOLDEN["goedel_pipeline"]))
def test_goedel_extraction_and_compile_filter_match_upstream(case: str) -> None:
    expected = GOLDEN["goedel_pipeline"][case]
    extracted = goedel_extract(expected["output"], PROBLEM)
    assert extracted.upstream_code == expected["full_code"]
    checked = PROBLEM.header + expected["compiled"]
    if goedel.holds_no_proof(expected["full_code"]):
        assert extracted.code is None and extracted.compile_anyway == checked
    else:
        assert extracted.code == checked and extracted.compile_anyway is None


@pytest.mark.parametrize("case", sorted(GOLDEN["goedel_pipeline"]))
def test_deepseek_cot_follows_goedels_dpskcot_handler(case: str) -> None:
    expected = GOLDEN["goedel_pipeline"][case]
    extracted = deepseek_cot_extract(expected["output"], PROBLEM)
    assert extracted.upstream_code == expected["full_code"]
    assert extracted.compile_anyway is None, "DeepSeek runs no correction"
    no_proof = goedel.holds_no_proof(expected["full_code"])
    assert extracted.code == (None if no_proof else PROBLEM.header + expected["compiled"])


@pytest.mark.parametrize("case", sorted(GOLDEN["deepseek_noncot_pipeline"]))
def test_deepseek_noncot_follows_goedels_dpsknoncot_handler(case: str) -> None:
    expected = GOLDEN["deepseek_noncot_pipeline"][case]
    extracted = deepseek_noncot_extract(expected["output"], PROBLEM)
    if expected["full_code"] == goedel.NO_CODE:
        assert extracted.code is None
        return
    assert extracted.upstream_code == expected["full_code"]
    assert extracted.code == PROBLEM.header + expected["compiled"]
    assert extracted.code.count("import Mathlib") == 1, "a whole-file block gets no second header"


def test_deepseek_noncot_whole_file_block_is_the_file_itself() -> None:
    case = GOLDEN["deepseek_noncot_pipeline"]["whole_file_block"]
    extracted = deepseek_noncot_extract(case["output"], PROBLEM)
    assert extracted.code is not None and extracted.code.startswith(PROBLEM.header)
    assert (
        "theorem mathd_algebra_478" in extracted.code and "norm_num [h₁, h₂, h₃]" in extracted.code
    )


@pytest.mark.parametrize("name", sorted(GOLDEN["goedel_prompts"]))
def test_goedel_prompt_matches_upstream(name: str) -> None:
    problem = find_problem(load_minif2f("test"), name)
    assert goedel.prompt(problem) == GOLDEN["goedel_prompts"][name]


@pytest.mark.parametrize("case", sorted(GOLDEN["goedel_corrections"]))
def test_goedel_correction_turn_matches_upstream(case: str) -> None:
    expected = GOLDEN["goedel_corrections"][case]
    errors = expected["errors"]
    outcome = Outcome.LEAN_ERROR if errors else Outcome.SORRY
    verdict = Verdict(
        outcome=outcome, reason="x", messages=_messages(errors, HEADER_LINES), reply={}
    )
    attempt = Attempt(PROBLEM, PROBLEM.header + expected["compiled"], verdict, 0, 300.0)
    assert goedel_feedback(attempt) == expected["user_turn"]


def test_goedel_timeouts_crashes_and_rejections_are_not_corrected() -> None:
    code = PROBLEM.header + GOLDEN["goedel_pipeline"]["plan_then_two_blocks"]["compiled"]
    for outcome in (Outcome.TIMEOUT, Outcome.CRASH, Outcome.REJECTED, Outcome.PROVED):
        assert goedel_feedback(Attempt(PROBLEM, code, Verdict(outcome=outcome), 0, 300.0)) is None


def _stored(problem: str, index: int, outcome: str) -> Trajectory:
    """A round-0 sample as the Goedel style leaves it: feedback iff Lean answered and it failed."""
    trajectory = Trajectory(problem=problem, prompt_text="p", prompt_ids=[], sample_index=index)
    kinds = {
        "ok": Outcome.PROVED,
        "error": Outcome.LEAN_ERROR,
        "sorry": Outcome.SORRY,
        "timeout": Outcome.TIMEOUT,
        "no_code": Outcome.LEAN_ERROR,
    }
    if outcome != "no_code":
        trajectory.verdict = Verdict(outcome=kinds[outcome])
    if outcome in ("error", "sorry", "no_code"):
        trajectory.meta["feedback"] = "The proof (Round 0) is not correct. ..."
    return trajectory


def test_goedel_correction_selection_matches_upstream() -> None:
    """load_data_for_correction: only problems no sample solved; every attempt Lean answered
    (errors, sorry only, the compiled "None") gets 2 children; timeouts none."""
    selection = GOLDEN["goedel_selection"]
    children = []
    for problem, outcomes in selection["attempts"].items():
        samples = [_stored(problem, g, outcome) for g, outcome in enumerate(outcomes)]
        for parent in correction_parents(samples):
            children += [f"{problem}_g{parent.sample_index}_corr1_g{j}" for j in range(2)]
    assert children == selection["children"]


@pytest.mark.parametrize("case", sorted(GOLDEN["kimina_extraction"]))
def test_kimina_extraction_matches_upstream(case: str) -> None:
    expected = GOLDEN["kimina_extraction"][case]
    ours = kimina.extract_proof(GOLDEN["kimina_outputs"][case], PROBLEM)
    assert ours == (None if expected == "No proof found in the output." else expected)


@pytest.mark.parametrize("text", sorted(GOLDEN["kimina_first_statement"]))
def test_kimina_statement_text_and_its_lemma_example_fallbacks_match_upstream(text: str) -> None:
    assert kimina.first_theorem_statement(text) == GOLDEN["kimina_first_statement"][text]


def test_kimina_server_body_offset_matches_split_snippet() -> None:
    assert kimina.server_line_offset(GOLDEN["kimina_code"]) == GOLDEN["kimina_server_offset"]


@pytest.mark.parametrize("case", sorted(GOLDEN["kimina_feedback"]))
def test_kimina_fix_turn_matches_upstream(case: str) -> None:
    expected = GOLDEN["kimina_feedback"][case]
    feedback = expected["lean_feedback"]
    code = GOLDEN["kimina_code"]
    if feedback["error"] is not None:
        verdict = Verdict(outcome=Outcome.TIMEOUT, reason="the REPL took longer than 60 s")
    else:
        messages = _messages(feedback["response"]["messages"], GOLDEN["kimina_server_offset"])
        errors = any(m.severity == "error" for m in messages)
        verdict = Verdict(
            outcome=Outcome.LEAN_ERROR if errors else Outcome.SORRY,
            reason="x",
            messages=messages,
            reply=feedback["response"],
        )
    assert kimina_feedback(Attempt(PROBLEM, code, verdict, 0, 60.0)) == expected["tool_message"]


def test_kimina_runs_no_fix_turn_for_proved_rejected_or_crashed_proofs() -> None:
    for outcome in (Outcome.PROVED, Outcome.REJECTED, Outcome.CRASH):
        assert (
            kimina_feedback(
                Attempt(PROBLEM, GOLDEN["kimina_code"], Verdict(outcome=outcome), 0, 60.0)
            )
            is None
        )
