"""Whole-proof baseline provers as named styles: prompt, extraction, feedback, budgets.

Each reproduces its prover's published pipeline (``docs/baselines.md`` and the
modules ``deepseek``, ``kimina``, ``goedel``, each citing the upstream file and commit),
and all are verified by the same ``LeanVerifier`` as the TIR prover, so results
are comparable on identical problems and Lean.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stepprover.agent.prompts import PromptStyle
from stepprover.data.problems import Problem
from stepprover.lean.verify import Outcome, Verdict
from stepprover.models.base import SamplingParams
from stepprover.provers import deepseek, goedel, kimina


@dataclass(frozen=True)
class Extracted:
    """What a style's pipeline made of one model output."""

    code: str | None
    """The complete Lean file to verify (header + what upstream compiles); None: no proof."""
    upstream_code: str | None = None
    """The text upstream's extraction produced before its compile step rewrote it (Goedel's
    ``full_code``, its ``"None"`` and ``**Error**`` placeholders included), when it differs."""
    compile_anyway: str | None = None
    """A placeholder upstream still sends to Lean (Goedel compiles ``"None"`` and ``**Error**``
    texts, and corrects them with Lean's errors): the file to run for feedback only."""


@dataclass(frozen=True)
class Attempt:
    """One verified (or, for a placeholder, compiled) attempt, as feedback needs it."""

    problem: Problem
    code: str
    """The file Lean checked: the problem's header, then the text upstream compiles."""
    verdict: Verdict
    failed_round: int
    """0 for the first attempt, 1 for the first correction, ..."""
    timeout: float
    """Seconds the check was given."""


Extract = Callable[[str, Problem], Extracted]
Feedback = Callable[[Attempt], str | None]
"""The next user turn for a failed attempt, or None where upstream runs no correction for it."""


@dataclass(frozen=True)
class Budgets:
    """A style's published token and time budgets (the CLI's defaults for it)."""

    max_context_tokens: int
    max_tokens_per_call: int
    verify_timeout: float


@dataclass(frozen=True)
class CorrectionTree:
    """The tree's shape and its sample indices. Round 0 holds indices ``0 .. n-1``; round r
    holds ``n * children**r`` slots after the earlier rounds'; the j-th child of slot s of
    round r-1 is slot ``s * children + j`` of round r."""

    rounds: int
    children: int

    def round_offset(self, samples: int, round_index: int) -> int:
        return sum(samples * self.children**r for r in range(round_index))

    def round_of(self, samples: int, index: int) -> int:
        round_index = 0
        while index >= self.round_offset(samples, round_index + 1):
            round_index += 1
        return round_index

    def child_index(self, samples: int, parent: int, j: int) -> int:
        """Index of the ``j``-th correction of sample ``parent``."""
        r = self.round_of(samples, parent)
        slot = parent - self.round_offset(samples, r)
        return self.round_offset(samples, r + 1) + slot * self.children + j

    def parent_index(self, samples: int, index: int) -> int | None:
        r = self.round_of(samples, index)
        if r == 0:
            return None
        slot = index - self.round_offset(samples, r)
        return self.round_offset(samples, r - 1) + slot // self.children

    def root_index(self, samples: int, index: int) -> int:
        parent = self.parent_index(samples, index)
        return index if parent is None else self.root_index(samples, parent)

    def as_budget(self) -> dict[str, int]:
        """How a run's config records it (``budgets["correction_tree"]``)."""
        return {"rounds": self.rounds, "children": self.children}

    @classmethod
    def from_budgets(cls, budgets: dict[str, Any]) -> CorrectionTree | None:
        shape = budgets.get("correction_tree")
        return None if shape is None else cls(**shape)


@dataclass(frozen=True)
class WholeProofStyle:
    prompt: PromptStyle
    extract: Extract
    budgets: Budgets
    feedback: Feedback | None = None
    rounds: int = 0
    """Correction turns inside one sample, after its first attempt (Kimina's fix turn)."""
    tree: CorrectionTree | None = None
    """Corrections as new samples, run by the eval runner (Goedel-V2's self-correction)."""
    max_feedback_chars: int | None = None
    """A correction turn whose feedback is longer is not run."""
    max_prompt_tokens: int | None = None
    """A prompt (first or correction) longer than this is not generated."""
    sampling: SamplingParams = field(default_factory=lambda: SamplingParams(temperature=1.0))
    incomplete: Callable[[Verdict], str | None] | None = None
    """Upstream's own rule on top of ours: why a proof our checks accept still counts as
    unsolved for this prover (None: it counts)."""

    @property
    def name(self) -> str:
        return self.prompt.name


def _header_lines(problem: Problem) -> int:
    return problem.header.count("\n")


def _errors_as_dicts(verdict: Verdict, line_of: Callable[[int], int]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for m in verdict.messages:
        if m.severity != "error" or line_of(m.pos.line) < 1:
            continue
        end = m.end_pos
        out.append({
            "pos": {"line": line_of(m.pos.line), "column": m.pos.column},
            "endPos": None if end is None else {"line": line_of(end.line), "column": end.column},
            "data": m.data,
        })  # fmt: skip
    return out


def _compiled(problem: Problem, full: str) -> str:
    """The file Lean checks for a Goedel-pipeline text: the header (upstream's env 0), then the
    text with its header lines filtered out (compile.py ``handle``)."""
    return problem.header + goedel.compiled_code(full)


def goedel_incomplete(verdict: Verdict) -> str | None:
    """Goedel-Prover-V2's compiler counts a proof without errors as incomplete when a
    warning mentions "failed" (lean_compiler/repl_scheduler.py at 2e9036e, ``complete``)."""
    for m in verdict.messages:
        if m.severity == "warning" and "failed" in m.data:
            return (
                "a warning says 'failed' (Goedel-Prover-V2 counts the proof incomplete): "
                f"{m.data[:200]}"
            )
    return None


def goedel_extract(output: str, problem: Problem) -> Extracted:
    """Goedel-V2's ``dpskcot`` pipeline: extraction, statement re-attachment, compile filter."""
    full = goedel.full_code(output, problem)
    if goedel.holds_no_proof(full):
        return Extracted(None, full, _compiled(problem, full))
    return Extracted(_compiled(problem, full), full)


def deepseek_cot_extract(output: str, problem: Problem) -> Extracted:
    """DeepSeek published no extraction; this is the closest published reproduction, Goedel-V2's
    ``dpskcot`` handler (used there to evaluate DeepSeek-Prover-V2's CoT format)."""
    full = goedel.full_code(output, problem)
    if goedel.holds_no_proof(full):
        return Extracted(None, full)
    return Extracted(_compiled(problem, full), full)


def deepseek_noncot_extract(output: str, problem: Problem) -> Extracted:
    """Goedel-V2's ``dpsknoncot`` handler: the last block as it is (no header prepended, no
    statement re-attached), compiled by the same filter under the header, so a block that is
    a whole file is checked with one header, as upstream compiles it."""
    block = goedel.extract_block(output)
    if block is None:
        return Extracted(None, goedel.NO_CODE)
    return Extracted(_compiled(problem, block), block)


def goedel_feedback(attempt: Attempt) -> str | None:
    """``load_data_for_correction``: an attempt is corrected iff Lean answered it (so it has an
    ``errors`` list) and it is not ``pass and complete``: errors, or sorry only (empty error
    string). Timeouts, crashes and our integrity rejections are not corrected."""
    verdict = attempt.verdict
    has_errors = any(m.severity == "error" for m in verdict.messages)
    if not (
        verdict.outcome is Outcome.SORRY or (verdict.outcome is Outcome.LEAN_ERROR and has_errors)
    ):
        return None
    offset = _header_lines(attempt.problem)
    compiled = attempt.code[len(attempt.problem.header) :]
    errors = _errors_as_dicts(verdict, lambda line: line - offset)
    return goedel.correction_prompt(attempt.failed_round, goedel.error_string(compiled, errors))


def kimina_feedback(attempt: Attempt) -> str | None:
    """``create_tool_message`` on kimina-lean-server's answer, as the RL recipe builds the fix
    turn: Lean errors (body-relative positions, no infotree so no goals); a sorry-only proof has
    no error and gives an empty message; a timeout gives the server's top-level error text.
    A crash is an infrastructure failure and a rejection by our integrity checks is what
    upstream scores valid: neither gets a fix turn."""
    verdict, code = attempt.verdict, attempt.code
    if verdict.outcome in (Outcome.PROVED, Outcome.REJECTED, Outcome.CRASH):
        return None
    if verdict.outcome is Outcome.TIMEOUT:
        return kimina.tool_message(code, None, kimina.timeout_error(attempt.timeout))
    if verdict.reply is None:  # no answer from Lean (e.g. a refused header): nothing to show
        return None
    offset = kimina.server_line_offset(code)
    errors = _errors_as_dicts(verdict, lambda line: line - offset)
    return kimina.tool_message(code, {"messages": [{**e, "severity": "error"} for e in errors]})


def kimina_extract(output: str, problem: Problem) -> Extracted:
    return Extracted(kimina.extract_proof(output, problem))


DEEPSEEK_BUDGETS = Budgets(
    max_context_tokens=32768, max_tokens_per_call=32768, verify_timeout=goedel.VERIFY_TIMEOUT
)
"""DeepSeek published no evaluation budget; the paper's 32,768-token context, each
generation given what is left of it, and DSP-V1.5's 300 s Lean timeout."""
GOEDEL_BUDGETS = Budgets(
    max_context_tokens=goedel.CONTEXT_TOKENS,
    max_tokens_per_call=goedel.CONTEXT_TOKENS,
    verify_timeout=goedel.VERIFY_TIMEOUT,
)
KIMINA_BUDGETS = Budgets(
    max_context_tokens=kimina.CONTEXT_TOKENS,
    max_tokens_per_call=kimina.RESPONSE_TOKENS,
    verify_timeout=kimina.VERIFY_TIMEOUT,
)

DEEPSEEK_V2_COT = WholeProofStyle(
    PromptStyle("deepseek-v2-cot", None, deepseek.cot_prompt, tool_use=False),
    extract=deepseek_cot_extract,
    budgets=DEEPSEEK_BUDGETS,
)
DEEPSEEK_V2_NONCOT = WholeProofStyle(
    PromptStyle("deepseek-v2-noncot", None, deepseek.non_cot_prompt, tool_use=False),
    extract=deepseek_noncot_extract,
    budgets=DEEPSEEK_BUDGETS,
)
KIMINA = WholeProofStyle(
    PromptStyle("kimina", kimina.SYSTEM, kimina.prompt, tool_use=False),
    extract=kimina_extract,
    budgets=KIMINA_BUDGETS,
    feedback=kimina_feedback,
    rounds=1,
    max_feedback_chars=kimina.MAX_FEEDBACK_CHARS,
    max_prompt_tokens=kimina.MAX_PROMPT_TOKENS,
    sampling=SamplingParams(temperature=1.0, top_p=0.95, max_tokens=kimina.RESPONSE_TOKENS),
)
GOEDEL_V2 = WholeProofStyle(
    PromptStyle("goedel-v2", None, goedel.prompt, tool_use=False),
    extract=goedel_extract,
    budgets=GOEDEL_BUDGETS,
    max_prompt_tokens=goedel.MAX_PROMPT_TOKENS,
    sampling=SamplingParams(temperature=1.0, top_p=0.95, max_tokens=goedel.CONTEXT_TOKENS),
    incomplete=goedel_incomplete,
)
GOEDEL_V2_SELF_CORRECTION = WholeProofStyle(
    PromptStyle("goedel-v2-self-correction", None, goedel.prompt, tool_use=False),
    extract=goedel_extract,
    budgets=GOEDEL_BUDGETS,
    feedback=goedel_feedback,
    tree=CorrectionTree(rounds=goedel.CORRECTION_ROUNDS, children=goedel.CORRECTION_SAMPLES),
    max_prompt_tokens=goedel.MAX_PROMPT_TOKENS,
    sampling=SamplingParams(temperature=1.0, top_p=0.95, max_tokens=goedel.CONTEXT_TOKENS),
    incomplete=goedel_incomplete,
)

WHOLE_PROOF_STYLES: dict[str, WholeProofStyle] = {
    s.name: s
    for s in (DEEPSEEK_V2_COT, DEEPSEEK_V2_NONCOT, KIMINA, GOEDEL_V2, GOEDEL_V2_SELF_CORRECTION)
}
