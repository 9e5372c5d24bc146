"""Every prover the harness runs, by name: the TIR prover and the whole-proof baselines."""

from __future__ import annotations

from stepprover.agent.loop import LoopConfig, SketchRepl, TirAgent
from stepprover.agent.prompts import TIR_STYLES
from stepprover.agent.whole_proof import WholeProofAgent
from stepprover.baselines.styles import WHOLE_PROOF_STYLES
from stepprover.eval.runner import Prover
from stepprover.lean.verify import Verifier
from stepprover.models.base import Generator, SamplingParams

PROVER_STYLES = [*TIR_STYLES, *WHOLE_PROOF_STYLES]


def default_sampling(style: str) -> SamplingParams:
    """The style's published sampling settings (StepFun's for the TIR prover)."""
    return WHOLE_PROOF_STYLES[style].sampling if style in WHOLE_PROOF_STYLES else SamplingParams()


def build_prover(style: str, generator: Generator, repl: SketchRepl, verifier: Verifier,
                 config: LoopConfig) -> Prover:
    if style in TIR_STYLES:
        return TirAgent(generator, repl, verifier, config)
    if style in WHOLE_PROOF_STYLES:
        return WholeProofAgent(generator, verifier, WHOLE_PROOF_STYLES[style], config)
    raise ValueError(f"unknown prover style {style!r}; known: {', '.join(PROVER_STYLES)}")
