"""Every prover the harness runs, by name: the StepFun TIR prover (the agent's loop)
and the whole-proof baselines (DeepSeek-Prover-V2, Kimina-Prover, Goedel-Prover-V2),
each with its published formats; ``registry`` builds one from its style name."""

from stepprover.provers.registry import PROVER_STYLES, Prover, build_prover, default_sampling

__all__ = ["PROVER_STYLES", "Prover", "build_prover", "default_sampling"]
