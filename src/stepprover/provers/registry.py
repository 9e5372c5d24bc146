"""Every prover the harness runs, by name: the TIR prover and the whole-proof baselines."""

from __future__ import annotations

from typing import Protocol

from stepprover.agent.loop import LoopConfig, TirAgent
from stepprover.agent.prompts import TIR_STYLES
from stepprover.agent.trajectory import Trajectory
from stepprover.data.problems import Problem
from stepprover.lean.verify import SketchRepl, Verifier
from stepprover.models.base import Generator, SamplingParams
from stepprover.provers.styles import WHOLE_PROOF_STYLES, Budgets, CorrectionTree
from stepprover.provers.whole_proof import WholeProofAgent


class Prover(Protocol):
    """One attempt at one problem; failures are recorded in the trajectory, never raised."""

    async def run(self, problem: Problem, sample_index: int = 0) -> Trajectory: ...


PROVER_STYLES = [*TIR_STYLES, *WHOLE_PROOF_STYLES]


def default_sampling(style: str) -> SamplingParams:
    """The style's published sampling settings (StepFun's for the TIR prover)."""
    return WHOLE_PROOF_STYLES[style].sampling if style in WHOLE_PROOF_STYLES else SamplingParams()


def default_budgets(style: str) -> Budgets:
    """The style's published budgets (the loop's defaults for the TIR prover)."""
    if style in WHOLE_PROOF_STYLES:
        return WHOLE_PROOF_STYLES[style].budgets
    loop = LoopConfig()
    return Budgets(loop.max_context_tokens, loop.max_tokens_per_call, loop.final_timeout)


def correction_tree(style: str) -> CorrectionTree | None:
    """The style's corrections-as-new-samples, which the eval runner runs (None for most)."""
    return WHOLE_PROOF_STYLES[style].tree if style in WHOLE_PROOF_STYLES else None


def build_prover(
    style: str, generator: Generator, repl: SketchRepl, verifier: Verifier, config: LoopConfig
) -> Prover:
    if style in TIR_STYLES:
        return TirAgent(generator, repl, verifier, config)
    if style in WHOLE_PROOF_STYLES:
        return WholeProofAgent(generator, verifier, WHOLE_PROOF_STYLES[style], config, repl)
    raise ValueError(f"unknown prover style {style!r}; known: {', '.join(PROVER_STYLES)}")
