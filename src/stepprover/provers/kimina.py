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


def _normalised_statement(statement: str) -> str:
    text = statement.strip().removesuffix("sorry").rstrip()
    return text if text.endswith("by") else text + " by"


def _strip_comments(text: str) -> str:
    text = re.sub(r"/-.*?-/", "", text, flags=re.DOTALL)
    return re.sub(r"--[^\n]*", "", text)


def extract_proof(output: str, problem: Problem) -> str | None:
    """The statement as given, followed by the proof of the last lean4 block that states
    the theorem outside a comment; None for "No proof found in the output."."""
    statement = _normalised_statement(problem.header + problem.formal_statement)
    head = re.search(r"theorem.*?:=", statement, re.DOTALL)
    if head is None:
        return None
    theorem = str(head.group(0))
    for block in reversed(re.findall(r"```lean4\n(.*?)\n```", output, re.DOTALL)):
        if theorem not in _strip_comments(block):
            continue
        start = block.find(theorem)
        by = block.find(":= by", start)
        if by < 0:
            continue
        return statement + str(block[by + len(":= by") :])
    return None


def split_proof_header(code: str) -> tuple[str, str]:
    """The demo's split: leading ``import`` lines, and the rest (blank lines after them kept)."""
    lines = code.strip().split("\n")
    index = 0
    while index < len(lines) and lines[index].startswith("import"):
        index += 1
    return "\n".join(lines[:index]).strip(), "\n".join(lines[index:])


def server_line_offset(code: str) -> int:
    """Lines before the body kimina-lean-server (<= Oct 2025) elaborated: imports and the
    blank lines after them. Its positions are relative to that body."""
    lines = code.strip().split("\n")
    index = 0
    while index < len(lines) and (lines[index].startswith("import") or not lines[index].strip()):
        index += 1
    return index


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
