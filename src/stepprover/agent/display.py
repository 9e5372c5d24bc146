"""Showing a trajectory in a terminal: thinking dimmed, sketches and feedback highlighted."""

from __future__ import annotations

import re

from rich.text import Text

from stepprover.agent.prompts import SKETCH_CLOSE, SKETCH_OPEN, THINK_CLOSE
from stepprover.agent.trajectory import Trajectory

_SKETCH = re.compile(re.escape(SKETCH_OPEN) + r".*?(?:" + re.escape(SKETCH_CLOSE) + r"|$)", re.DOTALL)


def render_trajectory(trajectory: Trajectory) -> Text:
    text = Text()
    thinking = True
    for segment in trajectory.segments:
        if segment.kind == "feedback":
            text.append(segment.text, style="yellow")
            continue
        body = segment.text
        if thinking and THINK_CLOSE in body:
            cut = body.index(THINK_CLOSE) + len(THINK_CLOSE)
            _append_thinking(text, body[:cut])
            text.append(body[cut:], style="bold")
            thinking = False
        elif thinking:
            _append_thinking(text, body)
        else:
            text.append(body, style="bold")
    return text


def _append_thinking(text: Text, body: str) -> None:
    position = 0
    for match in _SKETCH.finditer(body):
        text.append(body[position : match.start()], style="dim")
        text.append(match.group(0), style="bold cyan")
        position = match.end()
    text.append(body[position:], style="dim")


def summary_line(trajectory: Trajectory) -> Text:
    verdict = trajectory.verdict
    if trajectory.solved:
        status, style = "PROVED", "bold green"
    elif verdict is not None:
        status, style = f"{verdict.outcome.value}: {verdict.reason}", "bold red"
    else:
        status, style = f"unsolved ({trajectory.finish})", "bold red"
    line = Text(f"{trajectory.problem}: ", style="bold")
    line.append(status, style=style)
    line.append(
        f"  [{len(trajectory.repl_calls)} REPL calls, {len(trajectory.context_ids)} context tokens]"
    )
    if trajectory.error:
        line.append(f"\nerror: {trajectory.error}", style="red")
    return line
