"""`stepprover train grpo|sft|plot` from YAML configs, and the shipped configs themselves."""

from __future__ import annotations

import csv
import importlib.util
import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from stepprover.cli import app
from stepprover.eval.store import RunStore
from stepprover.train.config import CycleRunConfig, GRPORunConfig, SFTRunConfig, load_config
from tests.conftest import standin_command
from tests.fakes.tiny_model import build_model, memorised_model
from tests.train.trivial_problem import ANSWER, PROBLEM, SCRIPT, SKETCH

pytest.importorskip("trl")
CONFIGS = Path(__file__).parents[2] / "configs"


def on_this_machine() -> dict[str, Any]:
    """bf16 needs a GPU: on CPU-only machines the configs are built with bf16 off."""
    import torch

    return {} if torch.cuda.is_available() else {"bf16": False, "use_cpu": True}


@pytest.mark.parametrize("name", ["grpo-7b-8gpu.yaml", "grpo-32b.yaml"])
def test_shipped_grpo_configs_parse_and_build(name: str) -> None:
    config = load_config(CONFIGS / name, GRPORunConfig)
    assert config.status == "not yet run" and config.trl["bf16"] is True
    args = config.trl_config(**on_this_machine())
    assert args.num_generations == 16 and args.max_completion_length == 20480 and args.beta == 0.0
    assert config.loop.build().max_context_tokens == 20480


def test_shipped_sft_config_parses_and_builds() -> None:
    config = load_config(CONFIGS / "sft-7b.yaml", SFTRunConfig)
    assert (
        config.status == "not yet run"
        and config.trl_config(**on_this_machine()).learning_rate == 1e-5
    )


def test_shipped_cycle_config_parses_and_builds_both_stages() -> None:
    config = load_config(CONFIGS / "cycle-7b.yaml", CycleRunConfig)
    assert config.status == "not yet run" and config.iterations == 2
    config.check_trl(**on_this_machine())
    grpo = config.grpo_config("m", Path("c.txt"), Path("out")).trl_config(**on_this_machine())
    assert grpo.use_vllm and grpo.temperature == config.loop.temperature == 1.0
    with pytest.raises(ValueError, match=r"grpo_trl\.temperature"):
        CycleRunConfig.model_validate({**config.model_dump(), "grpo_trl": {"temperature": 0.7}})


def test_config_typos_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: x\nprompts: p\noutput_dir: o\nlooop: {}\n")
    with pytest.raises(ValueError, match="looop"):
        load_config(bad, GRPORunConfig)


def test_a_completion_limit_below_the_context_budget_is_refused(tmp_path: Path) -> None:
    from stepprover.train.config import TrainConfigError

    base = {
        "model": "m",
        "prompts": "p.jsonl",
        "output_dir": str(tmp_path),
        "loop": {"max_context_tokens": 600},
    }
    machine = on_this_machine()
    for trl in ({}, {"max_completion_length": 599}):  # TRL's default 512, and one token short
        with pytest.raises(TrainConfigError, match=r"max_completion_length \((512|599)\) is below"):
            GRPORunConfig.model_validate({**base, "trl": trl}).trl_config(**machine)
    GRPORunConfig.model_validate({**base, "trl": {"max_completion_length": 600}}).trl_config(
        **machine
    )
    path = tmp_path / "short.yaml"
    path.write_text(yaml.safe_dump({**base, "trl": machine}))
    result = CliRunner().invoke(app, ["train", "grpo", str(path)])
    assert result.exit_code == 2 and "max_completion_length (512)" in result.output
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer: Any) -> Path:
    from stepprover.agent.prompts import STEPFUN_TIR

    text = STEPFUN_TIR.render(tokenizer, PROBLEM) + SKETCH + "\n<REPL>\n{}\n</REPL>" + ANSWER
    model = memorised_model(tokenizer, text, seed=5)
    path = tmp_path_factory.mktemp("tiny")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_train_commands_fail_with_one_clear_line(tmp_path: Path) -> None:
    runner = CliRunner()
    typo = tmp_path / "typo.yaml"
    typo.write_text("model: m\nprompts: p.jsonl\noutput_dir: out\nloop: {temprature: 0.6}\n")
    result = runner.invoke(app, ["train", "grpo", str(typo)])
    assert (
        result.exit_code == 2 and "temprature" in result.output and "Traceback" not in result.output
    )
    result = runner.invoke(app, ["train", "sft", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "missing.yaml" in result.output
    if importlib.util.find_spec("vllm") is None:  # the shipped 7B config samples with vLLM
        result = runner.invoke(app, ["train", "grpo", str(CONFIGS / "grpo-7b-8gpu.yaml")])
        assert result.exit_code == 2 and "pip install 'trl[vllm]'" in result.output
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("model: m\nprompts: p.jsonl\noutput_dir: out\ntrl: {learning_rat: 1.0e-6}\n")
    result = runner.invoke(app, ["train", "grpo", str(unknown)])
    assert (
        result.exit_code == 2 and "TRL refused" in result.output and "learning_rat" in result.output
    )


def test_sft_without_examples_exits_with_one_clear_line(tmp_path: Path, tokenizer: Any) -> None:
    tokenizer.save_pretrained(tmp_path / "model")
    build_model(len(tokenizer)).save_pretrained(tmp_path / "model")
    (tmp_path / "none.jsonl").write_text("")
    config = tmp_path / "sft.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": str(tmp_path / "model"),
                "output_dir": str(tmp_path / "out"),
                "trajectories": [str(tmp_path / "none.jsonl")],
            }
        )
    )
    result = CliRunner().invoke(app, ["train", "sft", str(config)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "no SFT examples: check `trajectories` and `whole_proofs` in the config" in lines, lines


@pytest.mark.slow
def test_train_grpo_then_sft_then_plot(
    tiny_model_dir: Path, tmp_path: Path, script_file: Callable[[Any], str]
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    other = PROBLEM.model_copy(update={"name": "t2"})
    prompts.write_text(PROBLEM.model_dump_json() + "\n" + other.model_dump_json() + "\n")
    out = tmp_path / "grpo"
    config = {
        "model": str(tiny_model_dir),
        "prompts": str(prompts),
        "output_dir": str(out),
        "lean": {
            "repl": shlex.join(standin_command("--script", script_file(SCRIPT))),
            "workers": 2,
        },
        "loop": {"max_context_tokens": 600, "temperature": 0.7},
        "trl": {
            "per_device_train_batch_size": 4,
            "num_generations": 4,
            "max_completion_length": 600,
            "max_steps": 2,
            "learning_rate": 1e-3,
            "logging_steps": 1,
            "report_to": "none",
            "use_cpu": True,
            "bf16": False,
            "save_strategy": "no",
            "beta": 0.0,
        },
    }
    path = tmp_path / "grpo.yaml"
    path.write_text(yaml.safe_dump(config))
    runner = CliRunner()
    result = runner.invoke(app, ["train", "grpo", str(path)])
    assert result.exit_code == 0, result.output
    assert "decontamination: removed 0 of 2" in result.output
    assert "prompts at or over loop.max_context_tokens (600): 0 dropped" in result.output
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 2 and all(
        r["reward"] != "" and r["stepprover/repl_calls"] != "" for r in rows
    )
    rollouts = [json.loads(line) for line in (out / "rollouts.jsonl").read_text().splitlines()]
    assert len(rollouts) == 8 and {r["problem"] for r in rollouts} == {"t", "t2"}
    assert (out / "final" / "config.json").exists()

    proofs = tmp_path / "proofs.jsonl"
    proofs.write_text(
        json.dumps(
            {**json.loads(PROBLEM.model_dump_json()), "proof": "theorem t : True := trivial"}
        )
        + "\n"
    )
    sft = {
        "model": str(out / "final"),
        "whole_proofs": [str(proofs)],
        "output_dir": str(tmp_path / "sft"),
        "trl": {
            "max_steps": 1,
            "per_device_train_batch_size": 1,
            "report_to": "none",
            "use_cpu": True,
            "bf16": False,
            "save_strategy": "no",
            "logging_steps": 1,
        },
    }
    sft_path = tmp_path / "sft.yaml"
    sft_path.write_text(yaml.safe_dump(sft))
    result = runner.invoke(app, ["train", "sft", str(sft_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "sft" / "final" / "config.json").exists()

    result = runner.invoke(app, ["train", "plot", str(out)])
    assert result.exit_code == 0 and (out / "metrics.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_an_interrupted_grpo_run_resumes_from_its_last_checkpoint(
    tiny_model_dir: Path, tmp_path: Path, script_file: Callable[[Any], str]
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(PROBLEM.model_dump_json() + "\n")
    out = tmp_path / "grpo"
    trl = {
        "per_device_train_batch_size": 4,
        "num_generations": 4,
        "max_completion_length": 600,
        "learning_rate": 1e-3,
        "logging_steps": 1,
        "report_to": "none",
        "use_cpu": True,
        "bf16": False,
        "save_strategy": "steps",
        "save_steps": 1,
        "beta": 0.0,
    }
    config = {
        "model": str(tiny_model_dir),
        "prompts": str(prompts),
        "output_dir": str(out),
        "lean": {
            "repl": shlex.join(standin_command("--script", script_file(SCRIPT))),
            "workers": 2,
        },
        "loop": {"max_context_tokens": 600},
        "trl": {**trl, "max_steps": 1},
    }
    path = tmp_path / "grpo.yaml"
    path.write_text(yaml.safe_dump(config))
    runner = CliRunner()
    assert runner.invoke(app, ["train", "grpo", str(path)]).exit_code == 0
    assert (out / "checkpoint-1").is_dir()
    path.write_text(
        yaml.safe_dump({**config, "trl": {**trl, "max_steps": 2}})
    )  # "interrupted" after step 1
    result = runner.invoke(app, ["train", "grpo", str(path)])
    assert result.exit_code == 0, result.output
    assert f"resuming from {out / 'checkpoint-1'}" in result.output
    steps = [int(r["step"]) for r in csv.DictReader((out / "metrics.csv").open())]
    assert steps == [1, 2], "step 1 is not trained again"
    rollouts = [json.loads(line) for line in (out / "rollouts.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rollouts] == [0] * 4 + [1] * 4, (
        "one rollout of 4 per step, none replayed"
    )


@pytest.mark.slow
def test_cycle_runs_and_resumes_finished_stages(
    tiny_model_dir: Path, tmp_path: Path, script_file: Callable[[Any], str]
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        PROBLEM.model_dump_json()
        + "\n"
        + PROBLEM.model_copy(update={"name": "t2"}).model_dump_json()
        + "\n"
    )
    out = tmp_path / "cycle"
    trl_common = {
        "report_to": "none",
        "use_cpu": True,
        "bf16": False,
        "save_strategy": "no",
        "logging_steps": 1,
    }
    config = {
        "model": str(tiny_model_dir),
        "prompts": str(prompts),
        "output_dir": str(out),
        "iterations": 1,
        "eval": {"samples": 4, "concurrency": 8, "backend": "transformers"},
        "lean": {
            "repl": shlex.join(standin_command("--script", script_file(SCRIPT))),
            "workers": 2,
        },
        "loop": {"max_context_tokens": 600, "temperature": 1.2},
        "sft_trl": {"max_steps": 1, "per_device_train_batch_size": 1, **trl_common},
        "grpo_trl": {
            "per_device_train_batch_size": 4,
            "num_generations": 4,
            "max_completion_length": 600,
            "max_steps": 1,
            "learning_rate": 1e-3,
            "beta": 0.0,
            **trl_common,
        },
    }
    path = tmp_path / "cycle.yaml"
    path.write_text(yaml.safe_dump(config))
    runner = CliRunner()
    result = runner.invoke(app, ["train", "cycle", str(path)])
    assert result.exit_code == 0, result.output
    iteration = out / "iter0"
    for stage in ("eval", "select", "sft", "grpo"):
        assert (iteration / f"{stage}.done.json").exists(), stage
    summary = json.loads((iteration / "summary.json").read_text())
    assert 0 <= summary["eval"]["pass@1"] <= 1
    assert summary["select"]["trajectories"] == sum(
        1 for _ in (iteration / "sft_trajectories.jsonl").open()
    )
    recorded = RunStore.read_config(
        iteration / "eval"
    )  # the real settings, as `stepprover eval` records them
    assert recorded.lean == f"repl: {config['lean']['repl']}" and recorded.samples == 4
    assert (
        recorded.budgets["max_context_tokens"] == 600 and recorded.budgets["sketch_timeout"] == 60.0
    )
    assert recorded.sampling["temperature"] == 1.2 and "max_tokens" in recorded.sampling
    # An interruption after SFT: the GRPO stage has no marker. A restart redoes only GRPO.
    (iteration / "grpo.done.json").unlink()
    finished = {p.name: p.stat().st_mtime_ns for p in iteration.glob("*.done.json")}
    again = runner.invoke(app, ["train", "cycle", str(path)])
    assert again.exit_code == 0, again.output
    assert {
        p.name: p.stat().st_mtime_ns for p in iteration.glob("*.done.json") if p.name in finished
    } == finished
    assert (iteration / "grpo.done.json").exists()


def test_train_without_the_weights_or_metrics_says_so_in_one_line(tmp_path: Path) -> None:
    """A newcomer's `train sft configs/sft-7b.yaml` without the weights was an OSError
    traceback from the Hub; `train plot` of a wrong folder a FileNotFoundError."""
    runner = CliRunner()
    (tmp_path / "t.jsonl").write_text("")
    (tmp_path / "p.jsonl").write_text(PROBLEM.model_dump_json() + "\n")
    grpo = {
        "prompts": str(tmp_path / "p.jsonl"),
        "loop": {"max_context_tokens": 600},
        "trl": {"max_completion_length": 600, "use_cpu": True, "bf16": False},
    }
    for kind, extra in (("sft", {"trajectories": [str(tmp_path / "t.jsonl")]}), ("grpo", grpo)):
        config = tmp_path / f"{kind}.yaml"
        config.write_text(
            yaml.safe_dump(
                {"model": "nobody/no-such-prover-7b", "output_dir": str(tmp_path / "out"), **extra}
            )
        )
        result = runner.invoke(app, ["train", kind, str(config)])
        assert result.exit_code == 3 and "Traceback" not in result.output, result.output
        said = " ".join(result.output.split())
        assert "'nobody/no-such-prover-7b' is not on this machine" in said, said
        assert "--base-url" not in said, "training has no served-model option to suggest"
    result = runner.invoke(app, ["train", "plot", str(tmp_path / "nothere")])
    assert result.exit_code == 2 and "has no metrics.csv" in " ".join(result.output.split())
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "metrics.csv").write_text("step,reward\n")
    result = runner.invoke(app, ["train", "plot", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "has no rows" in result.output


@pytest.mark.parametrize("kind", ["sft", "grpo"])
def test_a_tokenizer_folder_as_the_model_is_one_line(
    kind: str, tmp_path: Path, tokenizer: Any
) -> None:
    """The try-without-Lean page's first step, run before PyTorch was installed, leaves
    try/tiny a tokenizer only; training it was a ValueError traceback from transformers."""
    tokenizer.save_pretrained(tmp_path / "tiny")
    (tmp_path / "p.jsonl").write_text(PROBLEM.model_dump_json() + "\n")
    extra: dict[str, Any] = (
        {"trajectories": [str(tmp_path / "p.jsonl")]}
        if kind == "sft"
        else {
            "prompts": str(tmp_path / "p.jsonl"),
            "loop": {"max_context_tokens": 600},
            "trl": {"max_completion_length": 600, "use_cpu": True, "bf16": False},
        }
    )
    config = tmp_path / f"{kind}.yaml"
    config.write_text(
        yaml.safe_dump(
            {"model": str(tmp_path / "tiny"), "output_dir": str(tmp_path / "out"), **extra}
        )
    )
    result = CliRunner().invoke(app, ["train", kind, str(config)])
    said = " ".join(result.output.split())
    assert result.exit_code == 3 and "Traceback" not in said, said
    assert f"model folder {tmp_path / 'tiny'} holds no config.json" in said, said


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
@pytest.mark.parametrize("command", ["sft", "grpo"])
def test_an_endless_config_file_is_one_line(tmp_path: Path, command: str) -> None:
    endless = tmp_path / "config.yaml"
    endless.symlink_to("/dev/zero")
    result = CliRunner().invoke(app, ["train", command, str(endless)])
    assert result.exit_code == 2, (result.output, result.exception)
    assert "over the 1000000-byte limit for a config file" in result.output
    assert "Traceback" not in result.output


def test_an_endless_line_in_training_data_is_one_line(tmp_path: Path) -> None:
    from stepprover.agent.trajectory import TRAJECTORY_LINE_LIMIT, load_jsonl
    from stepprover.errors import DataError

    endless = tmp_path / "trajectories.jsonl"
    endless.symlink_to("/dev/zero")
    with pytest.raises(DataError, match=f":1: over the {TRAJECTORY_LINE_LIMIT}-byte limit"):
        load_jsonl(endless)


def test_a_cycle_whose_model_backend_cannot_serve_stops_before_its_eval(
    tmp_path: Path, tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stepprover.models.scripted import ScriptedGenerator
    from stepprover.train import cycle

    def refusing(context: str, index: int) -> str:
        raise RuntimeError("HTTP 400: temperature must be at most 2")

    monkeypatch.setattr(
        cycle, "load_generator", lambda *a, **k: ScriptedGenerator(tokenizer, refusing)
    )
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(PROBLEM.model_dump_json() + "\n")
    out = tmp_path / "cycle"
    cpu = {"use_cpu": True, "bf16": False, "report_to": "none"}
    config = {"model": "m", "prompts": str(prompts), "output_dir": str(out),
              "lean": {"repl": shlex.join(standin_command())},
              "sft_trl": cpu, "grpo_trl": {**cpu, "max_completion_length": 600},
              "loop": {"max_context_tokens": 600}}  # fmt: skip
    path = tmp_path / "cycle.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["train", "cycle", str(path)])
    said = " ".join(result.output.split())
    assert result.exit_code == 3, said
    assert "the model backend cannot serve it" in said and "temperature must be at most 2" in said
    assert not list(out.glob("iter0/eval*")), "no eval run folder"
