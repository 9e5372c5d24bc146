"""Evaluation: runs of n samples per problem, their store, pass@k and summaries.

``report`` (Markdown, curves, the trajectory viewer) and ``compare`` (paired differences
of two runs) are imported from their modules: they bring matplotlib."""

from stepprover.eval.metrics import (
    Estimate,
    SampleResult,
    mean_pass_at_k,
    paired_difference,
    pass1,
    pass_at_k,
)
from stepprover.eval.runner import EvalPlan, evaluate
from stepprover.eval.session import Run, RunSettings, open_run
from stepprover.eval.store import RunConfig, RunStore
from stepprover.eval.summary import RunSummary, summarize, summarize_folder

__all__ = [
    "Estimate",
    "EvalPlan",
    "Run",
    "RunConfig",
    "RunSettings",
    "RunStore",
    "RunSummary",
    "SampleResult",
    "evaluate",
    "mean_pass_at_k",
    "open_run",
    "paired_difference",
    "pass1",
    "pass_at_k",
    "summarize",
    "summarize_folder",
]
