"""Kimina-Prover's published formats: the RL recipe's prompt and extraction
(project-numina/kimina-prover-rl @ e16b605) and the error-fixing tool message
(MoonshotAI/Kimina-Prover-Preview kimina_prover_demo/utils.py @ 7abd61a)."""

from __future__ import annotations

import re
from typing import Any

from stepprover.data.problems import Problem

SYSTEM = "You are an expert in mathematics and proving theorems in Lean 4."
MAX_ERRORS = 3


def prompt(problem: Problem) -> str:
    informal = problem.informal_prefix.strip()
    statement = problem.header + problem.formal_statement.rstrip()
    return (
        "Think about and solve the following problems step by step in Lean 4.\n\n"
        f"# Problem:\n{informal}\n\n# Formal Statement:\n```lean4\n{statement}\n```\n"
    )


# The RL recipe's validation settings (kimina_prover_1.7B.sh, dataset.py, reward.py).
CONTEXT_TOKENS = 32768
RESPONSE_TOKENS = 24576
"""max_response_length = model_max_len 32768 - max_prompt_length 8192."""
MAX_PROMPT_TOKENS = 8192
"""A fix turn whose re-rendered prompt is longer is not run (``max_prompt_token_len_exceeded``)."""
MAX_FEEDBACK_CHARS = 3000
"""A fix turn whose tool message is longer is not run (``multiturn_max_feedback_length``)."""
VERIFY_TIMEOUT = 60
"""Seconds per proof the RL reward gives kimina-lean-server."""


def normalize_formal_statement(statement: str) -> str:
    """``normalize_formal_statement``: drop a trailing ``sorry``; make it end with ``by``."""
    text = statement.rstrip()
    if text.endswith("sorry"):
        text = text[:-5].strip()
    return text if text.endswith("by") else text + " by"


def first_theorem_statement(text: str) -> str | None:
    """``extract_first_theorem_statement``: the text between the first ``theorem`` and the
    next ``:=`` (surrounding whitespace dropped), else the same for ``lemma``, then ``example``."""
    for keyword in ("theorem", "lemma", "example"):
        match = re.search(keyword + r"\s*(.*?)\s*:=", text, re.DOTALL)
        if match:
            return match.group(1).strip()
    return None


def is_index_commented(code: str, index: int) -> bool:
    """Whether ``index`` lies in a ``/- -/`` block or after ``--`` on its line (upstream's test:
    a line's first ``--`` counts even inside a string)."""
    if index < 0 or index >= len(code):
        return False
    if any(m.start() <= index < m.end() for m in re.finditer(r"/-.*?-/", code, re.DOTALL)):
        return True
    line_start = 0
    for line in code.splitlines():
        dashes = line.find("--")
        if (
            dashes != -1
            and line_start <= index < line_start + len(line)
            and index >= line_start + dashes
        ):
            return True
        line_start += len(line) + 1
    return False


def extract_proof(output: str, problem: Problem) -> str | None:
    """``extract_proof_from_text``: scanning lean4 blocks from the last, the first that contains
    the statement's ``theorem … :=`` text outside a comment, cut after the first ``:=\\s*by``
    following it, appended to the normalised statement (so the model cannot change the
    statement). None where upstream returns "No proof found in the output." or "Theorem
    statement couldn't be parsed from statement." (both skipped, scored 0, never fixed)."""
    statement = normalize_formal_statement(problem.header + problem.formal_statement)
    theorem = first_theorem_statement(statement)
    if theorem is None:
        return None
    blocks: list[str] = re.findall(r"```lean4\n(.*?)\n```", output, re.DOTALL)
    for block in reversed(blocks):
        start = block.find(theorem)
        if start == -1 or is_index_commented(block, start):
            continue
        by = re.search(r":=\s*by", block[start:])
        if by:
            return statement + block[start + by.end() :]
    return None


def split_proof_header(code: str) -> tuple[str, str]:
    """``error_fixing.split_proof_header``: the ``import`` lines and the rest. Its quirks kept:
    lines before the first import are scanned past (not kept out of the context), and the
    context starts after as many lines as there were imports in the first run of them."""
    lines = code.strip().split("\n")
    header: list[str] = []
    in_imports = False
    for line in lines:
        if line.startswith("import"):
            in_imports = True
            header.append(line)
        elif in_imports:
            break
    return "\n".join(header).strip(), "\n".join(lines[len(header) :])


def server_line_offset(code: str) -> int:
    """Lines kimina-lean-server (<= Oct 2025, ``split_snippet``) cut off before the body it
    elaborates: the leading blank and ``import `` lines. Its positions are relative to that body."""
    lines = code.splitlines()
    index = 0
    while index < len(lines) and (
        not lines[index].strip() or lines[index].strip().startswith("import ")
    ):
        index += 1
    return index


def timeout_error(seconds: float) -> str:
    """kimina-lean-server's top-level ``error`` for a proof that ran out of time
    (``routers/check.py``; the client sends whole seconds)."""
    shown = int(seconds) if float(seconds).is_integer() else seconds
    return f"Lean REPL command timed out in {shown} seconds"


def _after_or_equal(a: Any, b: Any) -> bool:
    if not isinstance(a, dict) or not isinstance(b, dict):
        return False
    return bool((a["line"], a["column"]) >= (b["line"], b["column"]))


def _distance(a: Any, b: Any) -> float:
    if not isinstance(a, dict) or not isinstance(b, dict):
        return float("inf")
    return float(10 * abs(a["line"] - b["line"]) + abs(a["column"] - b["column"]))


def goals_before(error: dict[str, Any], infotree: list[Any]) -> list[str] | None:
    """Goals of the infotree node closest to the error's range (goalsBefore, else goalsAfter)."""
    best, best_distance = None, float("inf")
    stack = list(infotree)
    while stack:
        tree = stack.pop()
        try:
            rng = tree["node"]["stx"]["range"]
        except (KeyError, TypeError):
            continue
        if not isinstance(rng, dict):
            continue
        if _after_or_equal(rng.get("start"), error["pos"]) and _after_or_equal(
            error.get("endPos"), rng.get("finish")
        ):
            distance = _distance(rng.get("start"), error["pos"]) + _distance(
                rng.get("finish"), error.get("endPos")
            )
            if distance < best_distance:
                best, best_distance = tree, distance
        if isinstance(tree.get("children"), list):
            stack.extend(tree["children"])
    if best is None:
        return None
    node = best.get("node", {})
    goals = node.get("goalsBefore") or node.get("goalsAfter")
    return list(goals) if goals else None


def tool_message(code: str, response: dict[str, Any] | None, error: str | None = None) -> str:
    """The error-fixing user turn: for the first 3 errors, the goals (when an infotree is
    given), the message, and a snippet of 5 numbered lines with ``>`` on the error line."""
    messages = (response or {}).get("messages") or []
    errors = [m for m in messages if isinstance(m, dict) and m.get("severity") == "error"]
    _, context = split_proof_header(code)
    lines = context.split("\n")
    out = ""
    for number, message in enumerate(errors[:MAX_ERRORS], start=1):
        out += f"# Error {number}:\n"
        goals = goals_before(message, (response or {}).get("infotree") or [])
        if goals:
            out += "Goals state before error position: \n" + "\n".join(goals) + "\n\n"
        out += f"Error message: \n{str(message.get('data', 'Unknown error')).strip()}\n\n"
        line = message["pos"].get("line", 1) - 1
        snippet = "```lean4\n"
        for ln in range(max(0, line - 2), min(len(lines), line + 3)):
            marker = " >" if ln == line else "  "
            snippet += f"{ln + 1:03d}{marker}| {lines[ln].replace('count_heartbeats in', '')}\n"
        out += f"Lean 4 code snippet with error:\n{snippet}```\n"
    if not out and error and error.strip():
        out = f"# System Error:\nError message: \n{error.strip()}\n\n"
    return out
