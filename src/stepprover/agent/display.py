"""Showing a trajectory: thinking dimmed, sketches and feedback highlighted.

``trajectory_parts`` cuts a trajectory into labelled runs of text; the terminal
view (rich) and the report's HTML page both render from it.
"""

from __future__ import annotations

from typing import Literal

from rich.text import Text

from stepprover.agent.prompts import SKETCH_CLOSE, SKETCH_OPEN, THINK_CLOSE
from stepprover.agent.trajectory import Trajectory

Part = Literal["think", "sketch", "repl", "answer"]
STYLES: dict[Part, str] = {
    "think": "dim",
    "sketch": "bold cyan",
    "repl": "yellow",
    "answer": "bold",
}


def trajectory_parts(trajectory: Trajectory) -> list[tuple[Part, str]]:
    """The completion as (kind, text) runs, in order; their texts join to the completion."""
    parts: list[tuple[Part, str]] = []
    thinking = True
    for segment in trajectory.segments:
        text = segment.text
        if segment.kind == "feedback":
            parts.append(("repl", text))
        elif not thinking:
            parts.append(("answer", text))
        elif THINK_CLOSE in text:
            cut = text.index(THINK_CLOSE) + len(THINK_CLOSE)
            parts += [*_thinking_parts(text[:cut]), ("answer", text[cut:])]
            thinking = False
        else:
            parts += _thinking_parts(text)
    return [(kind, text) for kind, text in parts if text]


def _thinking_parts(text: str) -> list[tuple[Part, str]]:
    parts: list[tuple[Part, str]] = []
    position = 0
    while (start := text.find(SKETCH_OPEN, position)) >= 0:
        end = text.find(SKETCH_CLOSE, start)
        end = len(text) if end < 0 else end + len(SKETCH_CLOSE)
        parts += [("think", text[position:start]), ("sketch", text[start:end])]
        position = end
    return [*parts, ("think", text[position:])]


def plural(count: int, noun: str) -> str:
    """``1 REPL call``, ``2 REPL calls``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def render_trajectory(trajectory: Trajectory) -> Text:
    text = Text()
    for kind, part in trajectory_parts(trajectory):
        text.append(part, style=STYLES[kind])
    return text


def summary_line(trajectory: Trajectory) -> Text:
    verdict = trajectory.verdict
    if trajectory.solved:
        status, style = "PROVED", "bold green"
    elif verdict is not None:
        status, style = f"{verdict.outcome.value}: {verdict.reason}", "bold red"
    elif trajectory.retryable:
        status, style = f"no result ({trajectory.finish}: retryable)", "bold yellow"
    else:
        status, style = f"unsolved ({trajectory.finish})", "bold red"
    line = Text(f"{trajectory.problem}: ", style="bold")
    line.append(status, style=style)
    line.append(
        f"  [{plural(len(trajectory.repl_calls), 'REPL call')}, "
        f"{plural(len(trajectory.context_ids), 'context token')}]"
    )
    if trajectory.error:
        line.append(f"\nerror: {trajectory.error}", style="red")
    return line
