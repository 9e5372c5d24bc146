"""Every script in benchmarks/ still runs: its ``--quick`` mode (seconds; the benchmark's own
assertions, figures not worth reading). A script without one fails here: each needs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

BENCHMARKS = sorted(p for p in (REPO / "benchmarks").glob("*.py") if not p.name.startswith("_"))


def test_the_benchmarks_are_found() -> None:
    assert len(BENCHMARKS) >= 6, BENCHMARKS


@pytest.mark.slow
@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.stem)
def test_quick_mode_runs_and_its_assertions_hold(script: Path, tmp_path: Path) -> None:
    # This checkout's code, in the script and in what it starts (the service).
    path = [str(REPO / "src"), str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    result = subprocess.run(
        [sys.executable, str(script), "--quick"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
        capture_output=True,
        text=True,
        timeout=300,  # a hang guard, not a timing bound
    )
    assert result.returncode == 0, (
        f"`python benchmarks/{script.name} --quick` exited {result.returncode} (each benchmark "
        f"needs a quick mode that runs its assertions)\n{result.stdout[-2000:]}\n"
        f"{result.stderr[-4000:]}"
    )
