"""The tool-integrated reasoning agent: prompts, loop, trajectories."""

from stepprover.agent.loop import LoopConfig, SketchRepl, TirAgent
from stepprover.agent.prompts import PROMPT_STYLES, STEPFUN_TIR, PromptStyle, prompt_style
from stepprover.agent.trajectory import (
    Finish,
    ReplCall,
    Segment,
    Trajectory,
    load_jsonl,
    save_jsonl,
)

__all__ = [
    "PROMPT_STYLES",
    "STEPFUN_TIR",
    "Finish",
    "LoopConfig",
    "PromptStyle",
    "ReplCall",
    "Segment",
    "SketchRepl",
    "TirAgent",
    "Trajectory",
    "load_jsonl",
    "prompt_style",
    "save_jsonl",
]
