"""Progress-bar columns for long runs."""

from __future__ import annotations

from rich.progress import ProgressColumn, Task
from rich.text import Text


def format_rate(per_second: float | None) -> str:
    """``"2.63 /s"``, ``"9.4 /min"`` when slower than one a second, ``""`` before any rate is
    known (a resumed run's first samples have not finished yet)."""
    if per_second is None or per_second <= 0:
        return ""
    if per_second >= 1:
        return f"{per_second:.2f} /s"
    return f"{per_second * 60:.1f} /min"


class SampleRateColumn(ProgressColumn):
    """Samples finished per second (or minute) in this session."""

    def render(self, task: Task) -> Text:
        return Text(format_rate(task.speed), style="progress.data.speed")
