"""The public API: each package's ``__all__``, pinned.

A name added to or dropped from a package's ``__all__`` is a change of the public API:
update the pin here and say so in CHANGELOG.md. Every pinned name must be importable from
its package (not only listed).
"""

from __future__ import annotations

import importlib
import importlib.resources

import pytest

PUBLIC: dict[str, list[str]] = {
    "stepprover.lean": [
        "RULES_VERSION",
        "CommandOutcome",
        "CommandReply",
        "CommandRequest",
        "CommandStatus",
        "ErrorReply",
        "Finding",
        "LeanSetup",
        "LeanVerifier",
        "Message",
        "Outcome",
        "PoolConfig",
        "PoolHealth",
        "ProcessConfig",
        "ReplPool",
        "ReplProcess",
        "Reply",
        "Request",
        "SketchRepl",
        "TacticReply",
        "TacticRequest",
        "Verdict",
        "Verifier",
        "VerifyConfig",
        "default_worker_count",
        "doctor",
        "parse_reply",
        "prefilter",
        "setup_plan",
        "split_imports",
    ],
    "stepprover.agent": [
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
    ],
    "stepprover.models": [
        "Generation",
        "Generator",
        "ModelUnavailable",
        "SamplingParams",
        "ScriptedGenerator",
        "Tokenizer",
        "check_model_available",
        "load_generator",
    ],
    "stepprover.provers": ["PROVER_STYLES", "Prover", "build_prover", "default_sampling"],
    "stepprover.eval": [
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
    ],
    "stepprover.server": ["ServiceSettings", "create_app"],
    "stepprover.train": [
        "CycleRunConfig",
        "GRPORunConfig",
        "LeanSettings",
        "LoopSettings",
        "SFTRunConfig",
        "load_config",
        "run_cycle",
        "run_grpo",
        "run_sft",
    ],
    "stepprover.data": [
        "DataError",
        "Problem",
        "bundled_path",
        "find_problem",
        "load_jsonl",
        "load_minif2f",
    ],
    "stepprover.cli": ["app", "problem_from_lean"],
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_all_is_pinned(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(PUBLIC[package]), (
        f"{package}.__all__ changed: update tests/test_public_api.py and CHANGELOG.md"
    )
    assert len(set(module.__all__)) == len(module.__all__), f"{package}.__all__ repeats a name"
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ names what it does not define: {missing}"


def test_every_subpackage_has_a_pinned_api() -> None:
    import stepprover

    root = importlib.resources.files(stepprover)
    packages = sorted(
        f"stepprover.{p.name}"
        for p in root.iterdir()
        if p.is_dir() and (p / "__init__.py").is_file()
    )
    assert packages == sorted(PUBLIC), "a package without a pinned __all__ (or a stale pin)"
