"""`stepprover prove`, end to end: a tiny model saved to disk, the stand-in REPL as Lean."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stepprover.agent.prompts import STEPFUN_TIR
from stepprover.cli import app, problem_from_lean
from stepprover.data.problems import find_problem, load_minif2f
from tests.conftest import standin_command
from tests.fakes.tiny_model import memorised_model

runner = CliRunner()
NAME = "mathd_algebra_10"
PROBLEM = find_problem(load_minif2f("valid"), NAME)
THEOREM = PROBLEM.formal_statement + "  norm_num [abs_of_nonneg]"
ANSWER = f"I can close it directly.\n</think>\n```lean4\n{THEOREM}\n```"
TYPE = {"severity": "info", "pos": {"line": -3, "column": 0}, "endPos": None, "data": "@x : ..."}
AXIOMS = {
    "severity": "info",
    "pos": {"line": -2, "column": 0},
    "endPos": None,
    "data": f"'{NAME}' depends on axioms: [propext, Classical.choice, Quot.sound]",
}
SCRIPT = [
    ["sorry\n\nset_option pp.all", {"messages": [{**TYPE, "pos": {"line": -2, "column": 0}}]}],
    ["abs_of_nonneg", {"messages": [TYPE, AXIOMS]}],
    ["*", {}],
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer: Any) -> Path:
    """A tiny Qwen2 that has memorised one answer to mathd_algebra_10, saved as a HF folder."""
    model = memorised_model(
        tokenizer, STEPFUN_TIR.render(tokenizer, PROBLEM) + ANSWER, seed=2, steps=250
    )
    path = tmp_path_factory.mktemp("tiny-prover")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.mark.slow
def test_prove_minif2f_problem_with_a_local_model(
    model_dir: Path, script_file: Callable[[Any], str]
) -> None:
    repl = shlex.join(standin_command("--script", script_file(SCRIPT)))
    args = [
        "prove",
        "--model",
        str(model_dir),
        "--minif2f",
        NAME,
        "--backend",
        "transformers",
        "--temperature",
        "0",
        "--repl",
        repl,
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "PROVED" in result.output and "I can close it directly." in result.output
    result = runner.invoke(app, [*args, "--json"])
    record = json.loads(result.stdout)
    assert record["verdict"]["outcome"] == "proved" and record["problem"] == NAME


def test_prove_without_weights_stops_with_instructions(script_file: Callable[[Any], str]) -> None:
    repl = shlex.join(standin_command())
    result = runner.invoke(
        app,
        [
            "prove",
            "--model",
            "stepfun-ai/Stepfun-Prover-Preview-7B",
            "--minif2f",
            NAME,
            "--repl",
            repl,
        ],
    )
    assert result.exit_code == 3  # no result: the weights cannot be had here
    assert "is not on this machine" in result.output and "hf download" in result.output


def test_prove_without_lean_stops_first(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["prove", "--model", "x", "--minif2f", NAME, "--lean-dir", str(tmp_path)]
    )
    assert result.exit_code == 3 and "Lean is not set up" in result.output


@pytest.mark.parametrize("command", ["prove", "eval"])
def test_without_lean_weights_or_gpu_every_missing_thing_is_named_at_once(
    command: str, tmp_path: Path
) -> None:
    import torch

    where = (
        ["--minif2f", NAME]
        if command == "prove"
        else ["--benchmark", "minif2f-test", "--run-dir", str(tmp_path / "run")]
    )
    result = runner.invoke(
        app,
        [
            command,
            "--model",
            "stepfun-ai/Stepfun-Prover-Preview-7B",
            *where,
            "--lean-dir",
            str(tmp_path / "lean"),
        ],
    )
    said = " ".join(result.output.split())
    assert result.exit_code == 3, result.output
    assert "Lean is not set up" in said and "stepprover lean setup" in said
    assert "is not on this machine" in said and "hf download" in said
    assert torch.cuda.is_available() or "no CUDA GPU found" in said
    assert not (tmp_path / "run").exists(), "nothing is started before everything is there"


def test_problem_arguments_are_checked() -> None:
    result = runner.invoke(app, ["prove", "--model", "x"])
    assert result.exit_code == 2 and "exactly one of" in result.output
    result = runner.invoke(app, ["prove", "--model", "x", "--minif2f", "no_such_problem"])
    assert result.exit_code == 2 and "no problem named" in result.output


def test_problem_from_a_lean_file() -> None:
    text = "import Mathlib\n\nopen Real\n\n/-- doc -/\ntheorem foo (x : ℝ) : x = x := by\n  sorry\n"
    problem = problem_from_lean(text, default_name="file")
    assert problem.name == "foo"
    assert problem.header == "import Mathlib\n\nopen Real\n\n/-- doc -/\n"
    assert problem.formal_statement == "theorem foo (x : ℝ) : x = x := by\n"


def test_auto_backend_without_a_gpu_stops_with_the_choices(model_dir: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = runner.invoke(
        app,
        [
            "prove",
            "--model",
            str(model_dir),
            "--minif2f",
            NAME,
            "--repl",
            shlex.join(standin_command()),
        ],
    )
    assert result.exit_code == 3
    said = " ".join(result.output.split())
    assert "no CUDA GPU found" in said and "--backend transformers" in said
    # the extra of this checkout, not a PyPI package named stepprover
    assert "pip install -e '.[gpu]'" in said


@pytest.mark.slow
def test_prove_through_the_verification_service(
    model_dir: Path, script_file: Callable[[Any], str]
) -> None:
    from tests.server.conftest import running_service, standin_settings

    with running_service(standin_settings("--script", script_file(SCRIPT), api_key="k")) as url:
        args = [
            "prove",
            "--model",
            str(model_dir),
            "--minif2f",
            NAME,
            "--backend",
            "transformers",
            "--temperature",
            "0",
            "--lean-url",
            url,
            "--json",
        ]
        refused = runner.invoke(app, args)  # found before the model writes anything
        said = " ".join(refused.output.split())
        assert refused.exit_code == 3 and "answered 401" in said and "--lean-api-key" in said, said
        assert "trajectory" not in said and "Traceback" not in said
        result = runner.invoke(app, [*args, "--lean-api-key", "k"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verdict"]["outcome"] == "proved"


@pytest.mark.parametrize("command", ["prove", "eval"])
@pytest.mark.parametrize(
    ("repl_args", "words"),
    [
        (
            ["-c", "import sys; sys.stderr.write('lake: no such package\\n'); sys.exit(2)"],
            [
                "Lean could not be started",
                "did not answer a first command",
                "stderr: lake: no such package",
            ],
        ),
        (
            [str(Path(__file__).parent / "fakes" / "standin_repl.py"), "--hang"],
            ["no answer within 1 s (the warm-up timeout)"],
        ),
    ],
)
def test_a_repl_that_cannot_start_is_one_answer_before_the_run(
    command: str, repl_args: list[str], words: list[str], tmp_path: Path
) -> None:
    import sys
    import time

    turns = tmp_path / "turns.json"
    turns.write_text(json.dumps(["never used"]))
    where = (
        ["--minif2f", NAME]
        if command == "prove"
        else ["--benchmark", "minif2f-test", "--limit", "1", "--run-dir", str(tmp_path / "run")]
    )
    started = time.monotonic()
    result = runner.invoke(
        app,
        [
            command,
            "--model",
            str(turns),
            "--backend",
            "scripted",
            "--tokenizer",
            "x",
            *where,
            "--repl",
            shlex.join([sys.executable, *repl_args]),
            "--warmup-timeout",
            "1",
        ],
    )
    said = " ".join(result.output.split())
    assert result.exit_code == 3, result.output  # Lean could not be used: not "not proved"
    assert all(w in said for w in words), said
    assert "Traceback" not in said and "unsolved" not in said
    assert not (tmp_path / "run").exists(), "no run folder for a run that could not start"
    assert time.monotonic() - started < 120  # lower bound of a hang: it is not waited out


def test_prove_says_no_result_when_an_outage_cuts_it_short(tmp_path: Path, tokenizer: Any) -> None:
    from stepprover.server.settings import ServiceSettings
    from tests.server.conftest import running_service

    turns = tmp_path / "turns.json"
    turns.write_text(json.dumps(["<sketch>\ntheorem x : True := by\n  trivial\n</sketch>"]))
    tokenizer.save_pretrained(tmp_path / "tok")
    # It passes the check before the run (it has not tried to start a REPL yet), then every
    # command fails.
    broken = ServiceSettings(
        repl_command=str(tmp_path / "no-such-repl"),
        workers=1,
        sandbox=False,
        expected_worker_rss_mb=50,
        max_rss_mb=2000,
    )
    with running_service(broken) as url:
        result = runner.invoke(
            app,
            [
                "prove",
                "--model",
                str(turns),
                "--backend",
                "scripted",
                "--tokenizer",
                str(tmp_path / "tok"),
                "--minif2f",
                NAME,
                "--lean-url",
                url,
            ],
        )
    said = " ".join(result.output.split())
    assert result.exit_code == 3, result.output
    assert "no result: an outage cut the proof short" in said and "cannot start REPL" in said


@pytest.mark.parametrize("backend", ["scripted", "transformers"])
def test_a_folder_that_holds_no_model_or_tokenizer_is_one_line(
    backend: str, tmp_path: Path
) -> None:
    turns = tmp_path / "turns.json"
    turns.write_text(json.dumps(["x"]))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}")  # looks like a model folder, holds nothing usable
    model = str(turns) if backend == "scripted" else str(empty)
    result = runner.invoke(
        app,
        [
            "prove",
            "--model",
            model,
            "--backend",
            backend,
            "--tokenizer",
            str(empty),
            "--minif2f",
            NAME,
            "--repl",
            shlex.join(standin_command()),
        ],
    )
    said = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert (
        f"Model unavailable: cannot load a tokenizer from {empty}" in said
        or f"Model unavailable: cannot load the model {empty}" in said
    ), said
    assert "Traceback" not in said
