"""SFT data from real loop trajectories, and one SFT step on CPU with the REPL tokens masked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stepprover.agent.loop import LoopConfig, TirAgent
from stepprover.data.problems import Problem
from stepprover.lean.pool import ReplPool
from stepprover.lean.verify import LeanVerifier, VerifyConfig
from stepprover.models.scripted import ScriptedGenerator
from stepprover.train.prompt_sets import decontaminate, from_records, normalise_statement
from stepprover.train.sft_data import (
    IGNORE,
    BuildStats,
    example_from_whole_proof,
    examples_from_trajectories,
)
from tests.conftest import standin_pool_config
from tests.train.test_grpo import ANSWER, PROBLEM, SCRIPT, SKETCH

torch = pytest.importorskip("torch")
pytest.importorskip("trl")


async def solved_and_failed(tokenizer: Any, script_file: Callable[[Any], str]) -> list[Any]:
    async with ReplPool(standin_pool_config("--script", script_file(SCRIPT), workers=2)) as pool:
        verifier = LeanVerifier(pool, VerifyConfig(timeout=5))
        good = TirAgent(
            ScriptedGenerator.replaying(tokenizer, [SKETCH, ANSWER]), pool, verifier, LoopConfig()
        )
        bad = TirAgent(
            ScriptedGenerator(tokenizer, [SKETCH, "</think> no proof"]),
            pool,
            verifier,
            LoopConfig(),
        )
        return [await good.run(PROBLEM, 0), await good.run(PROBLEM, 1), await bad.run(PROBLEM, 2)]


async def test_examples_keep_the_trajectory_ids_and_mask_the_feedback(
    tokenizer: Any, script_file: Callable[[Any], str]
) -> None:
    trajectories = await solved_and_failed(tokenizer, script_file)
    stats = BuildStats()
    examples = examples_from_trajectories(trajectories, stats=stats)
    assert len(examples) == 1 and stats.dropped == {"duplicate": 1, "not verified": 1}
    example, trajectory = examples[0], trajectories[0]
    assert example.input_ids == trajectory.context_ids, "the trajectory's own ids, not re-rendered"
    feedback = trajectory.segments[1]
    start = len(trajectory.prompt_ids) + len(trajectory.segments[0].token_ids)
    assert example.labels[start : start + len(feedback.token_ids)] == [IGNORE] * len(
        feedback.token_ids
    )
    assert example.labels[: len(trajectory.prompt_ids)] == [IGNORE] * len(trajectory.prompt_ids)
    assert example.labels[-1] == tokenizer.eos_token_id
    assert examples_from_trajectories(trajectories, max_tokens=10) == []


async def test_one_sft_step_with_feedback_labels_masked(
    tokenizer: Any, script_file: Callable[[Any], str], tmp_path: Path
) -> None:
    from trl import SFTConfig

    from stepprover.train.sft import build_sft_trainer
    from tests.fakes.tiny_model import build_model

    trajectories = await solved_and_failed(tokenizer, script_file)
    examples = examples_from_trajectories(trajectories)
    examples.append(example_from_whole_proof(tokenizer, PROBLEM, "theorem t : True := trivial"))
    args = SFTConfig(
        output_dir=str(tmp_path),
        max_steps=1,
        per_device_train_batch_size=2,
        report_to="none",
        use_cpu=True,
        bf16=False,
        save_strategy="no",
        logging_steps=1,
        learning_rate=1e-3,
    )
    trainer = build_sft_trainer(build_model(len(tokenizer)), tokenizer, examples, args)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    trajectory = trajectories[0]
    start = len(trajectory.prompt_ids) + len(trajectory.segments[0].token_ids)
    feedback_len = len(trajectory.segments[1].token_ids)
    assert (batch["labels"][0, start : start + feedback_len] == IGNORE).all()
    assert (batch["labels"][0, start - 1] != IGNORE) and (
        batch["labels"][0, start + feedback_len] != IGNORE
    )
    trainer.train()
    assert any("loss" in h for h in trainer.state.log_history)


def test_prompt_set_loading_and_decontamination(capsys: pytest.CaptureFixture[str]) -> None:
    from stepprover.data.problems import find_problem, load_minif2f

    leaked = find_problem(load_minif2f("test"), "mathd_algebra_478")
    rows = [
        {"id": "w1", "formal_statement": "theorem lean_workbook_1 (x : ℝ) : x ^ 2 ≥ 0 := by sorry"},
        {
            "name": "copy",
            "formal_statement": leaked.formal_statement.replace(
                "mathd_algebra_478", "renamed"
            ).replace("(b h v : ℝ)", "(b h v : ℝ)  -- same statement\n"),
        },
    ]
    problems = from_records(rows)
    assert problems[0].formal_statement == "theorem lean_workbook_1 (x : ℝ) : x ^ 2 ≥ 0 := by\n"
    result = decontaminate(problems)
    print(result.summary())
    assert [p.name for p in result.kept] == ["w1"] and [p.name for p in result.removed] == ["copy"]
    assert "removed 1 of 2" in capsys.readouterr().out
    assert normalise_statement("theorem a : 1 = 1 := by\n  sorry") == ": 1 = 1"
    assert Problem(name="x", formal_statement="theorem x : True := by\n")


async def test_cold_start_reads_an_eval_run_folder(
    tokenizer: Any, script_file: Callable[[Any], str], tmp_path: Path
) -> None:
    """A teacher's eval run (any backend, e.g. the OpenAI-compatible one) is SFT data as it is."""
    from stepprover.eval.store import RunConfig, RunStore
    from stepprover.train.run import read_trajectories

    trajectories = await solved_and_failed(tokenizer, script_file)
    config = RunConfig(
        model="teacher",
        prompt_style="stepfun-tir",
        samples=3,
        sampling={},
        budgets={},
        lean="standin",
        dataset="d",
        dataset_sha256="0",
    )
    store = RunStore.open(tmp_path / "run", config)
    for t in trajectories:
        store.add(t)
    store.close()
    loaded = list(read_trajectories(str(tmp_path / "run")))
    assert loaded == sorted(trajectories, key=lambda t: t.sample_index)
    assert len(examples_from_trajectories(loaded)) == 1
