"""Training: SFT on verified trajectories, tool-integrated GRPO and the RL→SFT→RL cycle.

Only the configs and the entry points are imported here; torch, TRL and datasets are
imported when a run starts (``pip install '.[train]'``)."""

from stepprover.train.config import (
    CycleRunConfig,
    GRPORunConfig,
    LeanSettings,
    LoopSettings,
    SFTRunConfig,
    load_config,
)
from stepprover.train.cycle import run_cycle
from stepprover.train.run import run_grpo, run_sft

__all__ = [
    "CycleRunConfig",
    "GRPORunConfig",
    "LeanSettings",
    "LoopSettings",
    "SFTRunConfig",
    "load_config",
    "run_cycle",
    "run_grpo",
    "run_sft",
]
