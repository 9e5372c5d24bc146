"""The tool-integrated reasoning agent: prompts, loop, trajectories."""

from stepprover.agent.loop import LoopConfig, TirAgent
from stepprover.agent.prompts import STEPFUN_TIR, TIR_STYLES, PromptStyle, tir_style
from stepprover.agent.trajectory import (
    Finish,
    ReplCall,
    Segment,
    Trajectory,
    load_jsonl,
    save_jsonl,
)

__all__ = [
    "STEPFUN_TIR",
    "TIR_STYLES",
    "Finish",
    "LoopConfig",
    "PromptStyle",
    "ReplCall",
    "Segment",
    "TirAgent",
    "Trajectory",
    "load_jsonl",
    "save_jsonl",
    "tir_style",
]
