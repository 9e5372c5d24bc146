"""Goedel-Prover-V2's published formats (Goedel-LM/Goedel-Prover-V2 @ 2e9036e, src/utils.py,
src/compile.py), reproduced byte for byte: prompt, extraction with the original statement
re-attached, the compile-time line filter, the error string and the correction prompt."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from stepprover.data.problems import Problem

DSP_HEADER = (
    "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\n"
    "open BigOperators Real Nat Topology Rat\n\n"
)
PLAN_INSTRUCTION = (
    "Before producing the Lean 4 code to formally prove the given theorem, provide a detailed "
    "proof plan outlining the main proof steps and strategies.\nThe plan should highlight key "
    "ideas, intermediate lemmas, and proof structures that will guide the construction of the "
    "final formal proof."
)
MAX_ERRORS = 8
MAX_SPAN_LINES = 6


def lean4_code(problem: Problem) -> str:
    """The dataset's ``lean4_code``: header + informal docstring + statement."""
    return problem.header + problem.informal_prefix + problem.formal_statement


def sorried_statement(problem: Problem) -> str:
    """``lean4_code`` cut at its first ``:= by``, with ``:= by sorry`` appended."""
    return lean4_code(problem).split(":= by")[0] + ":= by sorry"


def prompt(problem: Problem) -> str:
    """User message: the DSP-V2 CoT wording, with no newline before the closing fence."""
    statement = sorried_statement(problem)
    return f"Complete the following Lean 4 code:\n\n```lean4\n{statement}```\n\n{PLAN_INSTRUCTION}"


NO_CODE = "None"
"""What Goedel's ``extrac_code`` returns when the output has no code block; it is compiled as is."""
BANNED_TACTICS = ("apply?", "exact?")
CONTEXT_TOKENS = 40960
"""``MAX_MODEL_LEN`` in scripts/pipeline.sh; vLLM's ``max_tokens`` is set to it too, so each
generation may fill the context left after its prompt."""
MAX_PROMPT_TOKENS = int(CONTEXT_TOKENS * 3 / 4)
"""inference.py drops every prompt (first or correction) longer than 0.75 * max_model_len tokens."""
VERIFY_TIMEOUT = 300
"""``PROOF_TIMEOUT`` in lean_compiler/repl_scheduler.py."""
INITIAL_SAMPLES = 8
CORRECTION_SAMPLES = 2
CORRECTION_ROUNDS = 2


def _last_block(output: str) -> str | None:
    for pattern in (r"```lean4\n(.*?)\n```", r"```lean4\n(.*?)```", r"```lean\n(.*?)```"):
        matches = re.findall(pattern, output, re.DOTALL)
        if matches:
            return str(matches[-1])
    return None


def extract_code(output: str) -> str | None:
    """``DeepSeekCoTHandler.extrac_code``: the last lean4 (or lean) block, with the DSP header
    prepended; None where upstream returns ``"None"``."""
    block = _last_block(output)
    return None if block is None else DSP_HEADER + block


def extract_block(output: str) -> str | None:
    """``InferenceHandler.extrac_code`` (the ``dpsknoncot`` handler's): the last block as it is."""
    return _last_block(output)


def remove_comments(text: str) -> str:
    text = re.sub(r"/-.*?-/", "", text, flags=re.DOTALL)
    return "\n".join(line.split("--", 1)[0] for line in text.split("\n")).strip()


def replace_statement_in_proof(statement: str, proof: str) -> str:
    """``replace_statement_in_proof``: the original statement (comments removed) up to its
    ``:= by sorry`` with every ``sorry`` there deleted, followed by the proof's text after its
    first ``theorem … := by`` (so helper lemmas before the theorem are dropped). Upstream's
    ``**Error**`` strings are returned as it returns them: they are compiled and fail."""
    if any(tactic in proof for tactic in BANNED_TACTICS):
        return "**Error**, 'apply?' or 'exact?' is used, which is not allowed."
    clean_statement = remove_comments(statement)
    stated = re.search(r"((?:theorem).*?:=\s*by\s*sorry)", clean_statement, re.DOTALL)
    if stated is None:
        quoted = "\n".join(["\n"] + ["-- " + line for line in statement.split("\n")])
        return f"**Error**, can not find 'theorem' and ':= sorry' in {quoted}"
    clean_proof = remove_comments(proof)
    proved = re.search(r"((?:^|\s)theorem\s+.*?:=\s*by)", clean_proof, re.DOTALL)
    if proved is None:
        quoted = "\n".join(["\n"] + ["-- " + line for line in proof.split("\n")])
        return f"**Error**, can not find 'theorem' and ':=' in {quoted}"
    return clean_statement[: stated.end()].replace("sorry", "") + clean_proof[proved.end() :]


def holds_no_proof(full_code: str) -> bool:
    """Upstream's placeholder texts: no code block, or an ``**Error**`` from the re-attachment."""
    return full_code == NO_CODE or full_code.startswith("**Error**")


def full_code(output: str, problem: Problem) -> str:
    """inference.py's ``full_code`` for the ``dpskcot`` handler: extraction, then the original
    statement re-attached (``problem_check``); ``"None"`` when there is no block."""
    extracted = extract_code(output)
    if extracted is None:
        return NO_CODE
    return replace_statement_in_proof(sorried_statement(problem), extracted)


def compiled_code(code: str) -> str:
    """compile.py's ``handle``: what Goedel sends to the REPL, whose env 0 holds the header.
    Every line that starts with ``import``, ``set_option`` or ``open`` (after stripping) is
    dropped, anywhere (``open … in`` inside a proof too)."""
    keep = [
        line
        for line in code.split("\n")
        if not line.strip().startswith(("import", "set_option", "open"))
    ]
    return "\n".join(keep)


def error_string(code: str, errors: Sequence[dict[str, Any]]) -> str:
    """``get_error_str(code, errors, error_thres=True)``: up to 8 errors, each with the 4 lines
    before it, its span in ``<error>…</error>`` (at most 6 lines shown), the next line, the
    message."""
    lines = code.split("\n")
    out = ""
    for number, error in enumerate(errors[:MAX_ERRORS], start=1):
        start_line, start_col = error["pos"]["line"] - 1, error["pos"]["column"]
        if error.get("endPos") is None:
            end_line, end_col = start_line, len(lines[start_line])
        else:
            end_line, end_col = error["endPos"]["line"] - 1, error["endPos"]["column"]
        shown = "".join(f"{lines[start_line + k]}\n" for k in range(-4, 0) if start_line + k >= 0)
        if start_line != end_line:
            shown += (
                lines[start_line][:start_col] + "<error>" + lines[start_line][start_col:] + "\n"
            )
            last_shown = start_line
            for j in range(start_line + 1, min(end_line, start_line + MAX_SPAN_LINES)):
                shown += f"{lines[j]}\n"
                last_shown = j
            if end_line > start_line + MAX_SPAN_LINES:
                indent = len(lines[last_shown]) - len(lines[last_shown].lstrip(" "))
                shown += "\n" + " " * indent + "... --[Truncated]-- ...\n"
            shown += lines[end_line][:end_col] + "</error>" + lines[end_line][end_col:] + "\n"
        else:
            row = lines[start_line]
            shown += (
                row[:start_col]
                + "<error>"
                + row[start_col:end_col]
                + "</error>"
                + row[end_col:]
                + "\n"
            )
        if end_line + 1 < len(lines):
            shown += f"{lines[end_line + 1]}\n"
        out += f"\nError {number}:\n\nCorresponding Code:\n```lean4\n{shown}\n```\n"
        out += f"\nError Message: {error['data']}\n"
    if len(errors) > MAX_ERRORS:
        out += f"\n... [Omitted {len(errors) - MAX_ERRORS} more errors] ...\n"
    return out


def correction_prompt(previous_round: int, errors_text: str) -> str:
    return (
        f"The proof (Round {previous_round}) is not correct. Following is the compilation error "
        "message, where we use <error></error> to signal the position of the error.\n\n"
        f"{errors_text}\n\nBefore producing the Lean 4 code to formally prove the given theorem, "
        "provide a detailed analysis of the error message."
    )
