"""DeepSeek-Prover-V2's published prompts (deepseek-ai/DeepSeek-Prover-V2 README and paper).

No system message; the user turn goes through the checkpoint's chat template. DeepSeek
published no extraction: ``provers.styles`` follows the closest published reproduction,
Goedel-V2's ``dpskcot`` (CoT) and ``dpsknoncot`` (non-CoT) handlers.
"""

from __future__ import annotations

from stepprover.data.problems import Problem
from stepprover.provers.goedel import DSP_HEADER, PLAN_INSTRUCTION

__all__ = ["DSP_HEADER", "cot_prompt", "formal_statement", "non_cot_prompt"]


def formal_statement(problem: Problem) -> str:
    """Header + informal docstring + theorem + ``:= by\\n  sorry``, stripped."""
    statement = problem.formal_statement.rstrip()
    return (problem.header + problem.informal_prefix + statement + "\n  sorry").strip()


def cot_prompt(problem: Problem) -> str:
    return (
        f"Complete the following Lean 4 code:\n\n```lean4\n{formal_statement(problem)}\n```\n\n"
        f"{PLAN_INSTRUCTION}"
    )


def non_cot_prompt(problem: Problem) -> str:
    """The paper's non-CoT input (reconstructed from its PDF; UNVERIFIED byte for byte)."""
    return f"Complete the following Lean 4 code:\n\n```lean4\n{formal_statement(problem)}\n```"
