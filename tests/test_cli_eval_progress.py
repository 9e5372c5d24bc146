"""The eval progress bar's rate, as a newcomer reads it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from stepprover.cli.evaluate import SampleRate


def shown(speed: float | None) -> str:
    task: Any = SimpleNamespace(speed=speed)
    return SampleRate().render(task).plain


def test_rate_is_rounded_and_says_its_unit() -> None:
    """It was rich's raw float: "0.04283425612552672 /s" (and "None /s" at the start)."""
    assert shown(None) == "– samples/min"
    assert shown(0.04283425612552672) == "2.6 samples/min"
    assert shown(4.0) == "4.0 samples/s"
