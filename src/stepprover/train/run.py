"""What `stepprover train sft|grpo` runs: configs in, trained model and logs out."""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stepprover.agent.trajectory import Trajectory
from stepprover.agent.trajectory import load_jsonl as load_trajectories
from stepprover.data.problems import Problem, read_limited
from stepprover.errors import NoTrainingData, TrainConfigError
from stepprover.eval.store import RunStore
from stepprover.lean.backend import LeanBackend
from stepprover.lean.pool import PoolConfig
from stepprover.lean.sandbox import SandboxConfig
from stepprover.lean.toolchain import repl_process
from stepprover.lean.verdict_cache import cache_settings
from stepprover.lean.verify import SketchRepl, Verifier
from stepprover.models.loader import check_model_available
from stepprover.train.bridge import LoopThread
from stepprover.train.config import GRPORunConfig, LeanSettings, SFTRunConfig
from stepprover.train.grpo import TirRollout, fitting_prompts, verified_reward
from stepprover.train.metrics import metrics_callback
from stepprover.train.prompt_sets import decontaminate, load_prompt_set
from stepprover.train.sft import build_sft_trainer
from stepprover.train.sft_data import (
    BuildStats,
    example_from_whole_proof,
    examples_from_trajectories,
)


def last_checkpoint(output_dir: Path) -> str | None:
    """The newest ``checkpoint-N`` of an interrupted run in ``output_dir``, to resume from."""
    from transformers.trainer_utils import get_last_checkpoint

    found = get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None
    if found:
        print(f"resuming from {found}")
    return found


def read_trajectories(source: str) -> Iterator[Trajectory]:
    """Trajectories from an eval run folder or a JSONL file."""
    path = Path(source)
    if path.is_dir():
        with RunStore.reopen(path) as store:
            yield from store.trajectories()
    else:
        yield from load_trajectories(path)


def run_sft(config: SFTRunConfig) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_model_available(
        config.model, servable=False, weights=True
    )  # one clear line, not a Hub download error deep inside
    tokenizer = AutoTokenizer.from_pretrained(config.model)
    stats = BuildStats()
    examples = examples_from_trajectories(
        (t for source in config.trajectories for t in read_trajectories(source)),
        max_tokens=config.max_tokens,
        stats=stats,
    )
    for source in config.whole_proofs:
        for row in _jsonl_rows(source):
            problem = Problem.model_validate(row)
            examples.append(example_from_whole_proof(tokenizer, problem, row["proof"]))
    print(f"SFT examples: {len(examples)} (dropped: {stats.dropped})")
    if not examples:
        raise NoTrainingData(
            "no SFT examples: check `trajectories` and `whole_proofs` in the config"
        )
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(config.model)
    trainer = build_sft_trainer(
        model,
        tokenizer,
        examples,
        config.trl_config(),
        callbacks=[metrics_callback(out / "metrics.csv")],
    )
    trainer.train(resume_from_checkpoint=last_checkpoint(out))
    trainer.save_model(str(out / "final"))
    tokenizer.save_pretrained(str(out / "final"))
    return out / "final"


TRAINING_LINE_LIMIT = 64 * 2**20
"""Bytes in one line of a training JSONL (one example, its token ids included)."""


def _jsonl_rows(path: str) -> Iterator[dict[str, Any]]:
    import json

    from stepprover.data.problems import limited_lines

    with open(path, "rb") as f:
        for line in limited_lines(f, TRAINING_LINE_LIMIT, path):
            if line.strip():
                yield json.loads(line)


def grpo_problems(config: GRPORunConfig) -> list[Problem]:
    problems = load_prompt_set(config.prompts)
    cleaned = decontaminate(problems)
    print(cleaned.summary())
    kept = cleaned.kept
    if config.curriculum:
        text = read_limited(config.curriculum, what="a curriculum").decode("utf-8")
        names = set(text.split())
        kept = [p for p in kept if p.name in names]
        print(f"curriculum {config.curriculum}: {len(kept)} problems")
    if not kept:
        raise NoTrainingData("no training problems left after decontamination and the curriculum")
    return kept


def lean_backend(settings: LeanSettings) -> LeanBackend:
    """Where rollouts and the cycle's eval run Lean: the service, a Ray cluster or local REPLs."""
    sandbox = SandboxConfig() if settings.sandbox else None
    pool = (
        None
        if settings.url
        else PoolConfig(
            process=repl_process(settings.repl, sandbox=sandbox), workers=settings.workers
        )
    )
    cache = (
        None
        if settings.url
        else cache_settings(settings.cache, settings.cache_dir, repl=settings.repl)
    )
    return LeanBackend(pool, settings.url, settings.api_key, settings.ray, cache)


async def open_lean(
    settings: LeanSettings, stack: contextlib.AsyncExitStack
) -> tuple[SketchRepl, Verifier]:
    """Enter the Lean backend the settings name into ``stack`` (closed with it)."""
    return await stack.enter_async_context(lean_backend(settings).open())


def run_grpo(config: GRPORunConfig, *, model: Any = None, tokenizer: Any = None) -> Path:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOTrainer

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    if config.trl.get("use_vllm") and importlib.util.find_spec("vllm") is None:
        raise TrainConfigError(
            "the config sets `use_vllm: true` but vLLM is not installed: on a GPU "
            "machine run `pip install 'trl[vllm]'`, or set `use_vllm: false` to "
            "sample with transformers"
        )
    args = config.trl_config()
    problems = grpo_problems(config)
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    if processes > 1 and not (config.lean.url or config.lean.ray or config.lean.workers):
        print(
            f"warning: each of the {processes} training processes starts its own REPL pool sized "
            "for the whole machine; set lean.url (`stepprover serve`), lean.ray or lean.workers"
        )
    if model is None or tokenizer is None:
        check_model_available(config.model, servable=False, weights=True)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = tokenizer or AutoTokenizer.from_pretrained(config.model)
    model = model or AutoModelForCausalLM.from_pretrained(config.model)
    loop = LoopThread()
    stack = contextlib.AsyncExitStack()
    try:
        repl, verifier = loop.run(open_lean(config.lean, stack))
        loop_config = config.loop.build()
        problems, dropped = fitting_prompts(problems, tokenizer, loop_config)
        print(
            f"prompts at or over loop.max_context_tokens ({loop_config.max_context_tokens}):"
            f" {dropped} dropped"
        )
        if not problems:
            raise TrainConfigError("no training problem's prompt fits loop.max_context_tokens")
        rollout = TirRollout(
            repl,
            verifier,
            loop,
            loop_config,
            max_completion_length=args.max_completion_length,
            log_path=out / "rollouts.jsonl",
        )
        dataset = Dataset.from_list([{"prompt": p.model_dump_json()} for p in problems])
        trainer = GRPOTrainer(
            model=model,
            processing_class=tokenizer,
            reward_funcs=[verified_reward],
            args=args,
            train_dataset=dataset,
            rollout_func=rollout,
            callbacks=[metrics_callback(out / "metrics.csv")],
        )
        trainer.train(resume_from_checkpoint=last_checkpoint(out))
        trainer.save_model(str(out / "final"))
        tokenizer.save_pretrained(str(out / "final"))
    finally:
        loop.run(stack.aclose())
        loop.close()
    return out / "final"
