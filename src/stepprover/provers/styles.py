"""Whole-proof baseline provers as named styles: prompt, extraction, feedback, rounds.

Each reproduces its prover's published formats (see ``docs``-level notes in
``../shared/baselines.md`` and the modules ``deepseek``, ``kimina``, ``goedel``),
and all are verified by the same ``LeanVerifier`` as the TIR prover, so results
are comparable on identical problems, Lean and budgets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from stepprover.agent.prompts import PromptStyle
from stepprover.data.problems import Problem
from stepprover.lean.protocol import Message
from stepprover.lean.verify import Outcome, Verdict
from stepprover.models.base import SamplingParams
from stepprover.provers import deepseek, goedel, kimina

Extract = Callable[[str, Problem], str | None]
"""(model output, problem) -> the complete Lean file to verify, or None."""
Feedback = Callable[[str, Verdict, int], str | None]
"""(verified code, its verdict, round just failed) -> next user turn, or None to stop."""


@dataclass(frozen=True)
class WholeProofStyle:
    prompt: PromptStyle
    extract: Extract
    feedback: Feedback | None = None
    rounds: int = 0
    """Correction rounds after the first attempt."""
    sampling: SamplingParams = field(default_factory=lambda: SamplingParams(temperature=1.0))

    @property
    def name(self) -> str:
        return self.prompt.name


def _errors_as_dicts(messages: list[Message], line_of: Callable[[int], int]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for m in messages:
        if m.severity != "error":
            continue
        end = m.end_pos
        out.append({
            "pos": {"line": line_of(m.pos.line), "column": m.pos.column},
            "endPos": None if end is None else {"line": line_of(end.line), "column": end.column},
            "data": m.data,
        })  # fmt: skip
    return out


def _goedel_extract(output: str, problem: Problem) -> str | None:
    code = goedel.extract_code(output)
    return None if code is None else goedel.reattach_statement(goedel.sorried_statement(problem), code)


def _goedel_feedback(code: str, verdict: Verdict, failed_round: int) -> str | None:
    # Only compile errors are corrected (timeouts and crashes carry no errors).
    errors = _errors_as_dicts(verdict.messages, lambda line: goedel.to_compiled_line(code, line))
    if verdict.outcome is not Outcome.LEAN_ERROR or not errors:
        return None
    text = goedel.error_string(goedel.compiled_code(code), errors)
    return goedel.correction_prompt(failed_round, text)


def _kimina_feedback(code: str, verdict: Verdict, failed_round: int) -> str | None:
    offset = kimina.server_line_offset(code)
    errors = _errors_as_dicts(verdict.messages, lambda line: line - offset)
    if not errors and verdict.outcome in (Outcome.PROVED, Outcome.REJECTED):
        return None
    top_level = None if errors else (verdict.reason or verdict.outcome.value)
    message = kimina.tool_message(code, {"messages": [
        {**e, "severity": "error"} for e in errors]}, top_level)  # fmt: skip
    return message or None


DEEPSEEK_V2_COT = WholeProofStyle(
    PromptStyle("deepseek-v2-cot", None, deepseek.cot_prompt, tool_use=False),
    extract=lambda output, _: deepseek.extract_code(output),
)
DEEPSEEK_V2_NONCOT = WholeProofStyle(
    PromptStyle("deepseek-v2-noncot", None, deepseek.non_cot_prompt, tool_use=False),
    extract=lambda output, _: deepseek.extract_code(output),
)
KIMINA = WholeProofStyle(
    PromptStyle("kimina", kimina.SYSTEM, kimina.prompt, tool_use=False),
    extract=kimina.extract_proof,
    feedback=_kimina_feedback,
    rounds=1,
    sampling=SamplingParams(temperature=1.0, top_p=0.95, max_tokens=24576),
)
GOEDEL_V2 = WholeProofStyle(
    PromptStyle("goedel-v2", None, goedel.prompt, tool_use=False),
    extract=_goedel_extract,
)
GOEDEL_V2_SELF_CORRECTION = WholeProofStyle(
    PromptStyle("goedel-v2-self-correction", None, goedel.prompt, tool_use=False),
    extract=_goedel_extract,
    feedback=_goedel_feedback,
    rounds=2,
)

WHOLE_PROOF_STYLES: dict[str, WholeProofStyle] = {
    s.name: s
    for s in (DEEPSEEK_V2_COT, DEEPSEEK_V2_NONCOT, KIMINA, GOEDEL_V2, GOEDEL_V2_SELF_CORRECTION)
}
