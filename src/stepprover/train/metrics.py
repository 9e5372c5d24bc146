"""Per-step training metrics to a CSV (TensorBoard/W&B get the same through TRL's
``report_to``), and a plot of them."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

COLUMNS = [
    "step", "loss", "reward", "stepprover/pass_rate", "completions/mean_length",
    "stepprover/response_tokens", "stepprover/repl_calls", "stepprover/truncated_fraction",
    "stepprover/verdict_cache_hits", "stepprover/verdict_cache_misses",
    "stepprover/lean_seconds_saved",
]  # fmt: skip


def metrics_callback(path: Path) -> Any:
    """A TrainerCallback appending one CSV row per logged step (from the main process)."""
    from transformers import TrainerCallback

    class CsvMetrics(TrainerCallback):  # type: ignore[misc]
        def on_log(
            self,
            args: Any,
            state: Any,
            control: Any,
            logs: dict[str, Any] | None = None,
            **kwargs: Any,
        ) -> None:
            if not logs or "loss" not in logs or not state.is_world_process_zero:
                return
            new = not path.exists()
            with path.open("a", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
                if new:
                    writer.writeheader()
                writer.writerow({"step": state.global_step, **logs})

    return CsvMetrics()


def plot_metrics(csv_path: Path, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with csv_path.open(encoding="utf-8") as f:
        by_step = {
            r["step"]: r for r in csv.DictReader(f)
        }  # a resumed run logs its replayed steps again
    rows = sorted(by_step.values(), key=lambda r: int(r["step"]))
    if not rows:
        raise ValueError(f"{csv_path} has no rows")
    shown = [c for c in COLUMNS[1:] if any(r.get(c) for r in rows)]
    fig, axes = plt.subplots(
        len(shown), 1, figsize=(7, 2.2 * len(shown)), sharex=True, squeeze=False
    )
    steps = [int(r["step"]) for r in rows]
    for ax, column in zip(axes[:, 0], shown, strict=True):
        ax.plot(
            steps, [float(r[column]) if r.get(column) else float("nan") for r in rows], marker="."
        )
        ax.set_ylabel(column.split("/")[-1], fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
