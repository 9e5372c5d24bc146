"""A three-problem `stepprover eval` of each bundled benchmark of 2026 (PutnamBench on both
answer tracks, CombiBench, ProofNet), its report and a comparison, on the stand-in REPL with a
scripted model that answers each problem with its statement and a proof (the stand-in is not
Lean: it answers the verifier's axioms probe as scripted, so these runs test the harness, not
the mathematics)."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from stepprover.cli import app
from stepprover.data.problems import Problem, load_benchmark
from stepprover.models.scripted import ScriptedGenerator
from tests.conftest import standin_command

runner = CliRunner()
PROBLEMS = {
    "putnambench-given": ["putnam_2020_a1", "putnam_1964_b4", "putnam_2017_b3"],
    "putnambench-found": ["putnam_2020_a1", "putnam_1964_b4", "putnam_2017_b3"],
    "combibench-test": ["hackmath_1", "hackmath_4", "brualdi_ch11_20"],
    "proofnet-test": [
        "Shakarchi_exercise_1_13b",
        "Shakarchi_exercise_1_19a",
        "Shakarchi_exercise_2_2",
    ],
}
# What the scripted model answers on the answer-found track (CombiBench's answers are in its
# with_solution files; these are the answers of the two hackmath problems).
FOUND = {
    "putnam_2020_a1_solution": "508536",
    "putnam_1964_b4_solution": "fun n => n^2 - n + 2",
    "hackmath_1_solution": "1716",
    "hackmath_4_solution": "13",
}
# the reference copies' names are fresh for each check: REFERENCE_NAME, a random suffix
_ANSWER = r"@_root_\.stepprover_reference_statement_[0-9a-f]{16}_answer_1"
GIVEN_CHECK = re.compile(r"#guard_expr @_root_\.putnam_2020_a1_solution = " + _ANSWER)
TYPE_CHECK = re.compile(
    r"#guard_expr type_of% @_root_\.putnam_2020_a1_solution =ₐ type_of% " + _ANSWER
)


def answer(problem: Problem) -> str:
    """The model's final answer: the statement as shown, the answers it leaves defined."""
    statement = problem.formal_statement
    for name, value in FOUND.items():
        statement = statement.replace(
            f"abbrev {name} : ℕ := sorry", f"abbrev {name} : ℕ := {value}"
        )
        statement = statement.replace(
            f"abbrev {name} : ℕ → ℕ := sorry", f"abbrev {name} : ℕ → ℕ := {value}"
        )
    return f"</think>\n```lean4\n{statement}  trivial -- final {problem.name}\n```"


def axioms_rule(name: str) -> list[Any]:
    info = {
        "severity": "info",
        "pos": {"line": -2, "column": 0},
        "endPos": None,
        "data": f"'{name}' does not depend on any axioms",
    }
    return [f"-- final {name}\n", {"messages": [info]}]


@pytest.fixture
def bench(
    tokenizer: Any, tmp_path: Path, script_file: Callable[[Any], str], monkeypatch: Any
) -> dict[str, Any]:
    tok_dir = tmp_path / "tok"
    tokenizer.save_pretrained(tok_dir)
    names = sorted({n for names in PROBLEMS.values() for n in names})
    log = tmp_path / "requests.jsonl"
    repl = standin_command(
        "--script", script_file([*map(axioms_rule, names), ["*", {}]]), "--log", str(log)
    )
    answers: dict[str, str] = {}
    for spec, chosen in PROBLEMS.items():
        problems = {p.name: p for p in load_benchmark(spec)[0]}
        answers.update({f"{spec}:{n}": answer(problems[n]) for n in chosen})

    running: dict[str, str] = {}  # the benchmark the next eval runs (run_eval sets it)

    def model(_m: str, _b: str, _u: str | None, _t: str | None, _p: str = "auto") -> Any:
        spec = running["spec"]

        def turn(context: str, _: int) -> str:
            name = next(n for n in PROBLEMS[spec] if re.search(rf"theorem {n}\b", context))
            return answers[f"{spec}:{name}"]

        return ScriptedGenerator(tokenizer, turn)

    monkeypatch.setattr("stepprover.cli.evaluate.generator_or_exit", model)
    return {
        "tok": tok_dir,
        "repl": shlex.join(repl),
        "tmp": tmp_path,
        "log": log,
        "running": running,
    }


def run_eval(bench: dict[str, Any], spec: str) -> tuple[Result, Path]:
    bench["running"]["spec"] = spec
    run = bench["tmp"] / spec
    result = runner.invoke(
        app,
        [
            "eval",
            "--model",
            "scripted",
            "--backend",
            "scripted",
            "--tokenizer",
            str(bench["tok"]),
            "--benchmark",
            spec,
            "--problems",
            ",".join(PROBLEMS[spec]),
            "--samples",
            "2",
            "--workers",
            "1",
            "--run-dir",
            str(run),
            "--repl",
            bench["repl"],
        ],
        catch_exceptions=False,
    )
    return result, run


def final_commands(log: Path) -> list[str]:
    # the stand-in logs each request's text as one JSON string
    requests = [json.loads(json.loads(line)) for line in log.read_text().splitlines()]
    return [r["cmd"] for r in requests if "-- final " in r.get("cmd", "")]


@pytest.mark.parametrize("spec", list(PROBLEMS))
def test_a_three_problem_eval_of_each_benchmark_runs_and_reports(
    bench: dict[str, Any], spec: str
) -> None:
    result, run = run_eval(bench, spec)
    said = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert "problems 3/3 · solved 6" in said, said
    assert "pass@1 (mean of 2 samples, over all 3 problems): 100.0%" in said
    assert f"{spec} targets Lean" in said and "custom REPL command is unknown" in said
    assert f"{spec}: statements for " in said, "eval names the benchmark, toolchain and track"
    report = runner.invoke(app, ["report", str(run)], catch_exceptions=False)
    assert report.exit_code == 0, report.output
    text = (run / "report.md").read_text()
    toolchain = {"putnambench": "Lean v4.27.0, Mathlib v4.27.0", "combibench": "Lean v4.24.0, "
                 "Mathlib v4.24.0", "proofnet": "Lean v4.20.0, Mathlib v4.20.0"}  # fmt: skip
    assert f"| benchmark | {spec}: statements for {toolchain[spec.split('-')[0]]}" in text
    track = {"putnambench-given": "answer given", "putnambench-found": "answer found",
             "combibench-test": "answer found"}.get(spec)  # fmt: skip
    assert (f"answer track: {track} (" in text) if track else ("answer track" not in text)


def test_each_track_sends_its_answer_checks_to_lean(bench: dict[str, Any]) -> None:
    run_eval(bench, "putnambench-given")
    # each check names its reference copy afresh: the same proof's commands differ only there
    given, *_ = [c for c in final_commands(bench["log"]) if "theorem putnam_2020_a1\n" in c]
    assert GIVEN_CHECK.search(given) and TYPE_CHECK.search(given)
    assert "noncomputable abbrev putnam_2020_a1_solution : ℕ := 508536\n-- 508536" in given
    bench["log"].unlink()
    run_eval(bench, "putnambench-found")
    found, *_ = [c for c in final_commands(bench["log"]) if "theorem putnam_2020_a1\n" in c]
    # the model saw `:= sorry`; its answer is compared with the published one all the same
    assert GIVEN_CHECK.search(found) and TYPE_CHECK.search(found)
    assert "_answer_1 : ℕ := 508536\nvariable (putnam_2020_a1_solution : ℕ)" in found


def test_report_and_compare_name_the_track_and_leave_known_defects_out(
    bench: dict[str, Any],
) -> None:
    _, given = run_eval(bench, "putnambench-given")
    _, found = run_eval(bench, "putnambench-found")
    runner.invoke(app, ["report", str(given)], catch_exceptions=False)
    text = (given / "report.md").read_text()
    assert "1 known-defective statements (1 mistranslated) are in this benchmark" in text
    assert "| pass@k without the 1 known-defective | 100.0% | 100.0% |" in text
    compared = runner.invoke(app, ["compare", str(given), str(found)], catch_exceptions=False)
    assert compared.exit_code == 0, compared.output
    assert "Benchmark of A: putnambench-given: statements for Lean v4.27.0" in compared.output
    assert "Benchmark of B: putnambench-found: statements for Lean v4.27.0" in compared.output
    assert (
        "answer track: answer found (the proof defines the answers; "
        "each must unfold to the published one)" in compared.output
    )


def test_a_benchmark_for_another_lean_runs_only_when_its_lean_is_named(tmp_path: Path) -> None:
    base = ["eval", "--model", "m", "--backend", "scripted", "--run-dir", str(tmp_path / "r")]
    refused = runner.invoke(app, [*base, "--benchmark", "putnambench-found"])
    assert refused.exit_code == 2
    said = " ".join(refused.output.split())
    assert (
        "putnambench-found targets Lean v4.27.0 but this run uses v4.20.0-rc5; pass "
        "--lean-version v4.27.0 to run it anyway" in said
    )
    wrong = runner.invoke(
        app, [*base, "--benchmark", "putnambench-found", "--lean-version", "v4.9.0"]
    )
    assert wrong.exit_code == 2
    assert "--lean-version v4.9.0: putnambench-found targets Lean v4.27.0" in " ".join(
        wrong.output.split()
    )
    gold = runner.invoke(app, [*base, "--benchmark", "putnambench-found", "--lean-version",
                               "v4.27.0", "--gold"])  # fmt: skip
    assert gold.exit_code == 2 and "--gold cannot judge putnambench-found" in gold.output
    named = runner.invoke(
        app, [*base, "--benchmark", "putnambench-found", "--lean-version", "v4.27.0"]
    )
    assert "targets Lean" not in named.output, "named: it goes on (to the Lean set-up check)"
    assert "targets Lean" not in runner.invoke(app, [*base, "--benchmark", "minif2f-test"]).output
