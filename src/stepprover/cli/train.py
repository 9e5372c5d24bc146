"""`stepprover train sft|grpo|cycle|plot`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from stepprover.cli.common import OUTAGE, fail

_T = TypeVar("_T")


def _training(run: Callable[[], _T]) -> _T:
    """Run a training command; a config, data or setup problem is one clear line, not a
    traceback: exit 3 when what it needs cannot be used here (the weights, Lean, a server),
    2 for a config or data that cannot be used."""
    from stepprover.errors import (
        ModelServerUnsupported,
        ModelUnavailable,
        Outage,
        RunIncomplete,
        RunStopped,
        StepproverError,
    )

    try:
        return run()
    except (ModelUnavailable, ModelServerUnsupported, Outage, RunIncomplete, RunStopped) as exc:
        fail(exc, code=OUTAGE)
    except StepproverError as exc:
        fail(exc)


def train_sft(
    config: Annotated[Path, typer.Argument(help="YAML, e.g. configs/sft-7b.yaml")],
) -> None:
    """SFT on verified trajectories (REPL feedback masked) and whole proofs."""
    from stepprover.train.config import SFTRunConfig, load_config
    from stepprover.train.run import run_sft

    typer.echo(str(_training(lambda: run_sft(load_config(config, SFTRunConfig)))))


def train_grpo(
    config: Annotated[Path, typer.Argument(help="YAML, e.g. configs/grpo-7b-8gpu.yaml")],
) -> None:
    """Tool-integrated GRPO: rollouts by the agent loop, reward from the verifier."""
    from stepprover.train.config import GRPORunConfig, load_config
    from stepprover.train.run import run_grpo

    typer.echo(str(_training(lambda: run_grpo(load_config(config, GRPORunConfig)))))


def train_cycle(
    config: Annotated[
        Path, typer.Argument(help="YAML with model, prompts, eval, sft_trl, grpo_trl")
    ],
) -> None:
    """RL→SFT→RL: eval, SFT on the hardest solved problems, GRPO; resumes finished stages."""
    from stepprover.train.config import CycleRunConfig, load_config
    from stepprover.train.cycle import run_cycle

    typer.echo(_training(lambda: run_cycle(load_config(config, CycleRunConfig))))


def train_plot(
    run: Annotated[Path, typer.Argument(help="A training output folder with metrics.csv")],
) -> None:
    """Plot reward, pass rate, response length, REPL calls and truncation per step."""
    from stepprover.train.metrics import plot_metrics

    if not (run / "metrics.csv").is_file():
        fail(f"{run} has no metrics.csv: give the output_dir of `stepprover train sft|grpo`")
    try:
        typer.echo(str(plot_metrics(run / "metrics.csv", run / "metrics.png")))
    except ValueError as exc:  # a metrics.csv with no rows yet
        fail(exc)
