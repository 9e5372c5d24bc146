"""The report: Markdown tables, plots, and the trajectory page in headless Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stepprover.agent.trajectory import Finish, ReplCall, Segment, Trajectory
from stepprover.cli import app
from stepprover.eval.report import settings_warnings
from stepprover.eval.store import RunConfig, RunStore
from stepprover.lean.verify import Outcome, Verdict

CONFIG = RunConfig(
    model="tiny",
    prompt_style="stepfun-tir",
    samples=2,
    sampling={"temperature": 0.999, "top_p": 0.95},
    budgets={"max_context_tokens": 20480},
    lean="repl: standin",
    dataset="minif2f-test",
    dataset_sha256="ab" * 32,
    split="test",
)


def trajectory(problem: str, index: int, solved: bool, calls: int, ctx: int) -> Trajectory:
    feedback = '\n<REPL>\n{"messages": []}\n</REPL>'
    segments = [
        Segment(
            kind="model",
            text="Let me check <sketch>theorem x : 1 = 1 := rfl</sketch>",
            token_ids=[1, 2],
        ),
        Segment(kind="feedback", text=feedback, token_ids=[3]),
        Segment(
            kind="model", text="</think>\n```lean4\ntheorem x : 1 = 1 := rfl\n```", token_ids=[4]
        ),
    ]
    call = ReplCall(
        sketch="theorem x",
        status="ok",
        reply={"env": 1},
        feedback=feedback,
        latency=0.1,
        context_tokens=100,
    )
    verdict = Verdict(
        outcome=Outcome.PROVED if solved else Outcome.LEAN_ERROR,
        reason="" if solved else "type mismatch",
    )
    return Trajectory(
        problem=problem,
        prompt_text="<prompt>",
        prompt_ids=[0],
        segments=segments,
        repl_calls=[call] * calls,
        finish=Finish.ANSWERED,
        final_context_tokens=ctx,
        verdict=verdict,
        sample_index=index,
    )


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    store = RunStore.open(tmp_path, CONFIG)
    store.record_problems(["p1", "p2", "p3", "p4"])
    store.record_preflight("p4", False, "unknown identifier")
    for t in [
        trajectory("p1", 0, True, 1, 3000),
        trajectory("p1", 1, True, 3, 9000),
        trajectory("p2", 0, False, 5, 20000),
        trajectory("p2", 1, True, 20, 15000),
        trajectory("p3", 0, False, 2, 5000),
        trajectory("p3", 1, False, 2, 5000),
    ]:
        store.add(t)
    store.close()
    return tmp_path


def test_report_files_and_tables(run_dir: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    md = (run_dir / "report.md").read_text()
    # 3 solved samples out of 8 over 4 problems: (1 + 0.5 + 0 + 0) / 4
    assert "| **tiny (this run)** | **37.5% [" in md
    assert "| StepFun-Prover-Preview-32B (paper) | 70.0% |" in md
    assert "| 4096 | 12.5% | 58.3% |" in md and "| 16384 | 37.5% | 69.9% |" in md
    assert "| pass@1 | 12.5% | 12.5% | 25.0% | 25.0% | 25.0% | 37.5% |" in md
    assert "1 of 4 statements failed" in md and "p4" in md
    assert "lean: this run uses 'repl: standin'" in md
    for name in ("pass1_by_repl_calls.png", "pass1_by_context.png"):
        data = (run_dir / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000


def test_settings_matching_the_paper_raise_no_warning() -> None:
    paper = CONFIG.model_copy(
        update={"samples": 32, "lean": "Lean v4.20.0-rc5, Mathlib v4.20.0-rc5, REPL x"}
    )
    assert settings_warnings(paper) == []
    assert len(settings_warnings(CONFIG)) == 2


def test_report_of_a_folder_without_a_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "holds no run" in result.output


@pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver")),
    reason="needs Debian chromium and chromium-driver (.ci/run installs them)",
)
def test_trajectory_page_in_headless_chromium(run_dir: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.common.by import By

    CliRunner().invoke(app, ["report", str(run_dir)])
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.get((run_dir / "trajectories.html").as_uri())
        items = driver.find_elements(By.CSS_SELECTOR, ".trajectory")
        assert len(items) == 5  # p1: one solved; p2: solved + unsolved; p3: two unsolved
        items[0].find_element(By.TAG_NAME, "summary").click()
        sketch = items[0].find_element(By.CSS_SELECTOR, ".sketch")
        assert sketch.is_displayed() and "<sketch>theorem x" in sketch.text
        assert items[0].find_element(By.CSS_SELECTOR, ".repl").is_displayed()
        driver.find_element(By.ID, "show-unsolved").click()
        visible = [i for i in items if i.is_displayed()]
        assert len(visible) == 3 and all("unsolved" in i.get_attribute("class") for i in visible)
        assert driver.find_element(By.ID, "shown").text == "3 shown"
        driver.find_element(By.ID, "show-solved").click()
        assert sum(i.is_displayed() for i in items) == 2
        driver.find_element(By.ID, "show-all").click()
        assert sum(i.is_displayed() for i in items) == 5
    finally:
        driver.quit()
