"""The RL→SFT→RL cycle (`stepprover train cycle CONFIG`), resumable stage by stage.

Each iteration, in ``output_dir/iterK/``: (1) eval the current model on the
prompt set (a resumable eval run); (2) select the problems with the lowest pass
rate among those solved at least once, keep their verified trajectories, and
write the curriculum (pass rate strictly between 0 and 1); (3) SFT on those
trajectories; (4) GRPO from the SFT model on the curriculum. A stage that
finished writes ``<stage>.done.json`` with its outputs and metrics; a restarted
cycle skips finished stages.
"""

from __future__ import annotations

import asyncio
import json
import math
from functools import partial
from pathlib import Path
from typing import Any

from stepprover.agent.trajectory import save_jsonl
from stepprover.data.problems import file_sha256
from stepprover.errors import ModelBackendUnavailable, RunIncomplete
from stepprover.eval.first_call import first_call_error
from stepprover.eval.metrics import pass1, solve_counts, solve_rates
from stepprover.eval.runner import EvalPlan, evaluate
from stepprover.eval.session import RunSettings, lean_label, open_run
from stepprover.eval.store import RunStore
from stepprover.eval.summary import incomplete_line, summarize
from stepprover.models.loader import load_generator
from stepprover.train.config import CycleRunConfig
from stepprover.train.grpo import curriculum
from stepprover.train.prompt_sets import decontaminate, load_prompt_set
from stepprover.train.run import lean_backend, run_grpo, run_sft


def _stage(folder: Path, name: str, action: Any) -> dict[str, Any]:
    marker = folder / f"{name}.done.json"
    if marker.exists():
        return dict(json.loads(marker.read_text()))
    result: dict[str, Any] = action()
    marker.write_text(json.dumps(result, indent=1))
    return result


def run_cycle(config: CycleRunConfig) -> str:
    config.check_trl()
    problems = decontaminate(load_prompt_set(config.prompts)).kept
    names = [p.name for p in problems]
    model = config.model
    for k in range(config.iterations):
        folder = Path(config.output_dir) / f"iter{k}"
        folder.mkdir(parents=True, exist_ok=True)
        evaluated = _stage(
            folder, "eval", partial(_eval_stage, config, model, problems, folder / "eval")
        )
        selected = _stage(folder, "select", partial(_select_stage, config, names, folder))
        sft = _stage(folder, "sft", partial(_sft_stage, config, model, selected, folder))
        start = sft.get("model") or model
        grpo = _stage(folder, "grpo", partial(_grpo_stage, config, start, selected, folder))
        model = grpo.get("model") or start
        (folder / "summary.json").write_text(
            json.dumps(
                {
                    "eval": evaluated,
                    "select": selected,
                    "sft": sft,
                    "grpo": grpo,
                    "next_model": model,
                },
                indent=1,
            )
        )
    return model


def _eval_stage(
    config: CycleRunConfig, model: str, problems: list[Any], run_dir: Path
) -> dict[str, Any]:
    settings = RunSettings(
        model=model, loop=config.loop.build(), lean=lean_backend(config.lean),
        lean_label=lean_label(url=config.lean.url, repl=config.lean.repl),
        samples=config.eval.samples,
        dataset=config.prompts, dataset_sha256=_sha(config.prompts),
    )  # fmt: skip
    generator = load_generator(model, backend=config.eval.backend)  # type: ignore[arg-type]
    with asyncio.Runner() as runner:  # one event loop: the backend's connections belong to it
        # One call as the run makes them, before its folder: a backend that cannot serve the
        # run is one line with its error, not an eval whose every sample is retryable.
        error = (
            runner.run(first_call_error(generator, settings.loop, problems[0]))
            if problems
            else None
        )
        if error is not None:
            runner.run(generator.close())
            raise ModelBackendUnavailable(
                "the cycle's eval", f"the model backend cannot serve it: {error}"
            )
        with open_run(settings, run_dir) as run:
            store = run.store
            assert store is not None
            store.record_problems([p.name for p in problems])

            async def go() -> None:
                try:
                    async with run.prover(generator) as (prover, repl):
                        plan = EvalPlan(problems, config.eval.samples, config.eval.concurrency)
                        await evaluate(prover, repl, store, plan)
                finally:
                    await generator.close()

            runner.run(go())
            summary = summarize(store, run.config)
            if not summary.complete:  # the stage is not done: rerunning the cycle resumes it
                raise RunIncomplete(f"the cycle's eval in {run_dir}: {incomplete_line(summary)}")
            counts = summary.counts
    return {"run": str(run_dir), "pass@1": pass1(counts).value, "counts": counts}


def _select_stage(config: CycleRunConfig, names: list[str], folder: Path) -> dict[str, Any]:
    with RunStore.reopen(folder / "eval") as store:
        counts = solve_counts(store.results(), names)
        rates = solve_rates(counts)
        solved_once = sorted((p for p in names if counts[p][1] > 0), key=lambda p: (rates[p], p))
        hardest = solved_once[: math.ceil(len(solved_once) * config.hardest_fraction)]
        keep = [t for p in hardest for t in store.trajectories(p) if t.solved]
    save_jsonl(keep, folder / "sft_trajectories.jsonl")
    chosen = curriculum(counts)
    (folder / "curriculum.txt").write_text("".join(f"{p}\n" for p in chosen))
    return {"hardest": hardest, "trajectories": len(keep), "curriculum": chosen}


def _sft_stage(
    config: CycleRunConfig, model: str, selected: dict[str, Any], folder: Path
) -> dict[str, Any]:
    if not selected["trajectories"]:
        return {"model": None, "skipped": "no verified trajectory among the hardest problems"}
    sft = config.sft_config(model, [str(folder / "sft_trajectories.jsonl")], folder / "sft")
    return {"model": str(run_sft(sft))}


def _grpo_stage(
    config: CycleRunConfig, model: str, selected: dict[str, Any], folder: Path
) -> dict[str, Any]:
    if not selected["curriculum"]:
        return {"model": None, "skipped": "no problem with a pass rate strictly between 0 and 1"}
    grpo = config.grpo_config(model, folder / "curriculum.txt", folder / "grpo")
    return {"model": str(run_grpo(grpo))}


def _sha(source: str) -> str:
    path = Path(source)
    return file_sha256(path) if path.exists() else source
