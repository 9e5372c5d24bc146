"""docs/try-without-lean.md, done as a reader does it: its files written as shown, its
commands run as written (from a folder that holds the checkout's tests/, examples/, configs/),
each saying what the page says it does. The stand-in REPL is a test program, not Lean."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from stepprover.cli import app
from tests.server.conftest import free_port

ROOT = Path(__file__).parent.parent
PAGE = (ROOT / "docs" / "try-without-lean.md").read_text(encoding="utf-8")


def shown_files() -> dict[str, str]:
    """Each ``<!-- file: PATH -->`` block of the page, by path."""
    return dict(re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)^```$", PAGE, re.S | re.M))


def commands(first_word: str) -> list[list[str]]:
    """Every command line of the page's bash blocks that starts with ``first_word``."""
    blocks = re.findall(r"```bash\n(.*?)^```$", PAGE, re.S | re.M)
    lines = [line for block in blocks for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith(first_word + " ")]


@pytest.fixture
def reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder laid out as the checkout (tests/, examples/), with the page's files."""
    for name in ("tests", "examples", "configs"):
        (tmp_path / name).symlink_to(ROOT / name)
    for path, text in shown_files().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def as_run_here(argv: list[str]) -> list[str]:
    """``python`` in a --repl command line is this interpreter."""
    return [re.sub(r"^python ", f"{shlex.quote(sys.executable)} ", a) for a in argv]


def test_the_page_shows_every_file_it_uses() -> None:
    assert set(shown_files()) == {"try/standin.json", "try/turns.json"}
    assert "It is not Lean and checks nothing" in PAGE


@pytest.mark.slow
def test_every_command_of_the_page_does_what_it_says(reader: Path) -> None:
    [make] = commands("python")[:1]
    assert make[1:3] == ["-m", "tests.fakes.tiny_model"]
    subprocess.run([sys.executable, *make[1:]], check=True, cwd=reader, capture_output=True)
    said = {}
    for argv in commands("stepprover"):
        if argv[1] == "serve":
            continue
        result = CliRunner().invoke(app, as_run_here(argv[1:]))
        assert result.exit_code == 0, (argv, result.output)
        said[argv[1]] = said.get(argv[1], "") + result.output
    assert "proved" in said["check"]
    assert "PROVED" in said["prove"] and "<REPL>" in said["prove"]
    # Lean lines as the model wrote them, however wide (the terminal wraps, not stepprover)
    theorem = "theorem mathd_algebra_10 : abs ((120 : ℝ) / 100 * 30 - 130 / 100 * 20) = 10 := by"
    assert f"{theorem}\n  norm_num [abs_of_nonneg]" in said["prove"], said["prove"]
    assert said["eval"].count("verdict cache: off") == 2
    assert (reader / "try/run-a/trajectories.html").exists()
    assert "sampling.temperature: A 0.999, B 0.0" in said["compare"]
    # the smoke run of training: SFT, then two GRPO steps, then the plot
    assert (reader / "try/tiny-sft/final/config.json").exists()
    metrics = (reader / "try/tiny-grpo/metrics.csv").read_text().splitlines()
    assert len(metrics) == 3 and (reader / "try/tiny-grpo/metrics.png").exists()


@pytest.mark.slow
def test_the_service_of_the_page_answers_the_curl_and_says_when_it_stops(reader: Path) -> None:
    [serve] = [[a for a in c if a != "&"] for c in commands("stepprover serve")]
    port = free_port()
    argv = [a.replace("$PWD", str(reader)).replace("8000", str(port)) for a in as_run_here(serve)]
    assert "--no-sandbox" in argv and "--repl" in argv
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "stepprover.cli", *argv[1:]],
        cwd=reader, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # printed once it listens
        assert f"listening on http://127.0.0.1:{port}" in first, first
        code = (reader / "examples/mathd_algebra_10.lean").read_text()
        statement = (reader / "examples/mathd_algebra_10.statement.lean").read_text()
        answer = httpx.post(
            f"http://127.0.0.1:{port}/api/verify",
            json={"proofs": [{"id": "1", "code": code, "statement": statement}]},
            timeout=120,
        ).json()
        assert answer["results"][0]["verdict"]["outcome"] == "proved", answer
    finally:
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=60)
    assert "stepprover serve: stopped by SIGTERM; every REPL worker is closed" in rest, rest
    assert process.returncode == 143  # the status a shell gives SIGTERM (the README's signal table)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="the page's block calls curl")
def test_the_service_block_runs_as_pasted(reader: Path) -> None:
    # the whole block at once, as a reader pastes it: its curl must not run before serve listens
    [block] = [b for b in re.findall(r"```bash\n(.*?)^```$", PAGE, re.S | re.M) if "serve" in b]
    python = shlex.quote(sys.executable)
    script = re.sub(r"^stepprover ", f"{python} -m stepprover.cli ", block, flags=re.M)
    script = re.sub(
        r"^python |\"python ", lambda m: m[0].replace("python", python), script, flags=re.M
    )
    script = script.replace("8000", str(free_port()))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        ["bash", "-c", script + "wait\n"], cwd=reader, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        said, _ = process.communicate(timeout=600)  # a guard against a hang, not a time bound
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert '"outcome":"proved"' in said, said
    assert "stepprover serve: stopped by SIGTERM; every REPL worker is closed" in said, said
