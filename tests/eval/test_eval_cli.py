"""`stepprover eval` as a user runs it: choosing problems, progress, dataset checks on
resume, and outages of the model server or the verification service (stand-in REPL)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from stepprover.cli import app
from tests.conftest import standin_command
from tests.eval.test_honesty import closed_port
from tests.eval.test_store_and_runner import ANSWER, SCRIPT, SKETCH, problems
from tests.models.fake_vllm_server import answering_server, json_answer, text_completion

runner = CliRunner()


@pytest.fixture
def setup(tokenizer: Any, tmp_path: Path, script_file: Callable[[Any], str]) -> dict[str, Any]:
    """A tokenizer folder, a scripted model, a benchmark of 3 provable problems + 1 bad
    statement."""
    tok_dir = tmp_path / "tok"
    tokenizer.save_pretrained(tok_dir)
    turns = tmp_path / "turns.json"
    turns.write_text(json.dumps([SKETCH, ANSWER]))
    bench = tmp_path / "bench.jsonl"
    bench.write_text(
        "".join(p.model_dump_json() + "\n" for p in problems(["a1", "a2", "a3", "bad1"]))
    )
    repl = shlex.join(standin_command("--script", script_file(SCRIPT)))
    return {
        "tok": tok_dir, "turns": turns, "bench": bench, "repl": repl, "run": tmp_path / "run",
        "tokenizer": tokenizer,
    }  # fmt: skip


def eval_args(s: dict[str, Any], *extra: str, backend: str = "scripted") -> list[str]:
    return [
        "eval",
        "--model",
        str(s["turns"]),
        "--backend",
        backend,
        "--tokenizer",
        str(s["tok"]),
        "--benchmark",
        f"{s['bench']}:test",
        "--samples",
        "2",
        "--workers",
        "1",
        "--run-dir",
        str(s["run"]),
        "--repl",
        s["repl"],
        *extra,
    ]


def rows(run: Path) -> dict[tuple[str, int], tuple[str | None, bytes]]:
    with sqlite3.connect(run / "run.sqlite") as con:
        return {
            (p, i): (f, d)
            for p, i, f, d in con.execute(
                "SELECT s.problem, s.sample_index, s.finish, t.data FROM samples s "
                "JOIN trajectories t USING (problem, sample_index)"
            )
        }


def preflight_rows(run: Path) -> dict[str, int]:
    with sqlite3.connect(run / "run.sqlite") as con:
        return dict(con.execute("SELECT problem, ok FROM preflight").fetchall())


def invoke(args: list[str]) -> Result:
    return runner.invoke(app, args, catch_exceptions=False)


def test_limit_and_problems_choose_what_runs(setup: dict[str, Any]) -> None:
    result = invoke(eval_args(setup, "--limit", "2"))
    assert result.exit_code == 0, result.output
    assert sorted(rows(setup["run"])) == [("a1", 0), ("a1", 1), ("a2", 0), ("a2", 1)]
    assert "over all 2 problems" in result.output

    result = invoke(eval_args(setup, "--problems", "a3, bad1"))
    assert result.exit_code == 0, result.output
    assert {p for p, _ in rows(setup["run"])} == {"a1", "a2", "a3"}, "bad1 failed pre-flight"
    assert preflight_rows(setup["run"])["bad1"] == 0
    assert "over all 4 problems" in result.output, "the run covers every problem it was given"

    unknown = invoke(eval_args(setup, "--problems", "a1,nope"))
    assert unknown.exit_code == 2 and "no problem named 'nope'" in unknown.output


def test_a_statement_lean_rejects_counts_as_unsolved_in_every_figure(setup: dict[str, Any]) -> None:
    result = invoke(eval_args(setup))  # a1, a2, a3 provable; bad1 rejected by Lean at pre-flight
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "problems 4/4 · solved 6 · 1 rejected by Lean" in said and "6/6 samples" in said
    assert "pass@1 (mean of 2 samples, over all 4 problems): 75.0%" in said
    assert (
        "pass@1 75.0%, pass@2 75.0% (over all 4 problems; 1 rejected by Lean, counted as unsolved)"
        in said
    )
    report = invoke(["report", str(setup["run"])])
    assert report.exit_code == 0, report.output
    text = (setup["run"] / "report.md").read_text()
    assert "| pass@k | 75.0% | 75.0% |" in text
    assert "Over all 4 problems (statements Lean rejected count as unsolved)." in text
    assert "| bad1 | statement rejected by Lean |" in text and "0/0" not in text
    # a toy benchmark is not set beside the paper's miniF2F-test figures
    assert (
        "## pass@1 on " in text and "Table 1: miniF2F-test" not in text and "(paper) |" not in text
    )
    assert "StepFun-Prover-Preview-32B (paper)" not in text


def test_progress_bar_counts_problems_samples_and_solved(setup: dict[str, Any]) -> None:
    result = invoke(eval_args(setup, "--limit", "3"))
    assert result.exit_code == 0, result.output
    # rich prints the bar's final state when the output is not a terminal
    assert "problems 3/3 · solved 6" in result.output
    assert "6/6 samples" in result.output
    again = invoke(eval_args(setup, "--limit", "3"))  # a resumed run starts from what is stored
    assert "problems 3/3 · solved 6" in again.output and "6/6 samples" in again.output


def test_dataset_checks_at_start_and_on_resume(setup: dict[str, Any]) -> None:
    bench: Path = setup["bench"]
    assert invoke(eval_args(setup, "--limit", "1")).exit_code == 0
    bench.write_text(bench.read_text().replace("theorem p : True", "theorem p : 1 = 1", 1))
    changed = invoke(eval_args(setup, "--limit", "1"))
    assert changed.exit_code == 2
    assert "another configuration" in changed.output and "dataset_sha256: stored" in changed.output

    lines = bench.read_text().splitlines()
    bench.write_text("\n".join([*lines, lines[0]]) + "\n")
    duplicate = invoke(eval_args(setup, "--run-dir", str(setup["run"]) + "2"))
    assert duplicate.exit_code == 2
    assert f"{bench}:5: duplicate problem name 'a1' (first on line 1)" in duplicate.output

    bench.write_text(lines[0] + "\n{oops\n")
    broken = invoke(eval_args(setup, "--run-dir", str(setup["run"]) + "3"))
    assert (
        broken.exit_code == 2 and f"{bench}:2: not a problem record (invalid JSON" in broken.output
    )


def test_bundled_benchmark_says_its_known_defects_at_start(setup: dict[str, Any]) -> None:
    args = eval_args(setup, "--problems", "mathd_algebra_314")
    args[args.index("--benchmark") + 1] = "minif2f-test"
    result = invoke(args)
    assert (
        "minif2f-test: 1 known-defective statements (1 mistranslated) among these 1 problems"
        in result.output
    )
    assert "--benchmark minif2f-goedel-v2-test has 1 of them corrected" in result.output


@pytest.mark.slow
def test_model_server_down_stops_the_run_and_resume_redoes_only_the_lost_samples(
    setup: dict[str, Any],
) -> None:
    first = invoke(eval_args(setup, "--limit", "1"))
    assert first.exit_code == 0, first.output
    kept = rows(setup["run"])
    url = f"http://127.0.0.1:{closed_port()}/v1"
    down = invoke(
        eval_args(setup, "--limit", "3", "--base-url", url, "--max-outages", "4", backend="openai")
    )
    said = " ".join(down.output.split())
    assert down.exit_code == 3, down.output  # the call before the run finds no server
    assert f"cannot serve this run: model server {url}: APIConnectionError" in said, said
    assert rows(setup["run"]) == kept
    # A server that answers the call before the run, then refuses every call.
    gone = json_answer(404, {"error": {"message": "model unloaded"}})
    good = text_completion(setup["tokenizer"], ANSWER)
    with answering_server(lambda i, body: good if i == 0 else gone) as (served, _):
        url = f"{served}/v1"
        down = invoke(
            eval_args(
                setup, "--limit", "3", "--base-url", url, "--max-outages", "4", backend="openai"
            )
        )
    assert down.exit_code == 3, down.output
    stop_lines = [line for line in down.output.splitlines() if line.startswith("eval stopped:")]
    assert len(stop_lines) == 1
    assert (
        f"4 consecutive outages since the last result; last: model server {url}: NotFoundError"
        in stop_lines[0]
    )
    assert "2 finished samples are kept" in stop_lines[0]
    after = rows(setup["run"])
    assert {k: v for k, v in after.items() if k[0] == "a1"} == kept, "finished samples untouched"
    lost = {k for k, (finish, _) in after.items() if finish == "outage"}
    assert lost == {("a2", 0), ("a2", 1), ("a3", 0), ("a3", 1)}

    report = invoke(["report", str(setup["run"])])
    assert report.exit_code == 1 and "4 samples retryable after outages" in report.output
    assert "pass@1 (" not in report.output

    resumed = invoke(eval_args(setup, "--limit", "3"))
    assert resumed.exit_code == 0, resumed.output
    final = rows(setup["run"])
    assert {k: v for k, v in final.items() if k[0] == "a1"} == kept, (
        "only the lost samples were redone"
    )
    assert all(finish == "answered" for finish, _ in final.values()) and len(final) == 6
    assert "pass@1 (mean of 2 samples, over all 3 problems): 100.0%" in resumed.output


@pytest.mark.slow
def test_verification_service_down_or_refusing_the_key_stops_before_anything_runs(
    setup: dict[str, Any],
) -> None:
    from tests.server.conftest import running_service, standin_settings

    url = f"http://127.0.0.1:{closed_port()}"
    args = [a for a in eval_args(setup, "--lean-url", url) if a not in ("--repl", setup["repl"])]
    down = invoke(args)
    assert down.exit_code == 3, down.output
    said = " ".join(down.output.split())
    assert f"verification service {url}/api/health: failed after 7 attempts (ConnectError" in said
    assert not setup["run"].exists(), (
        "no run folder is made (its settings would hold the wrong URL)"
    )

    with running_service(standin_settings(api_key="k")) as served:
        keyless = invoke([a if a != url else served for a in args])
    said = " ".join(keyless.output.split())
    assert keyless.exit_code == 3 and "answered 401" in said and "--lean-api-key" in said, said
    assert not setup["run"].exists()


@pytest.mark.slow
def test_verification_service_that_starts_no_repl_stores_outages_not_verdicts(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    from stepprover.server.settings import ServiceSettings
    from tests.server.conftest import running_service

    # It passes the pre-flight (it has not tried to start a REPL yet), then fails every command.
    broken = ServiceSettings(
        repl_command=str(tmp_path / "no-such-repl"),
        workers=1,
        sandbox=False,
        expected_worker_rss_mb=50,
        max_rss_mb=2000,
    )
    with running_service(broken) as url:
        args = [
            a for a in eval_args(setup, "--lean-url", url) if a not in ("--repl", setup["repl"])
        ]
        result = invoke(args)
        again = invoke(args)  # now the pre-flight sees that no REPL starts
    assert result.exit_code == 3, result.output  # no result: samples not run
    assert preflight_rows(setup["run"]) == {}, "an outage is not Lean rejecting the statement"
    assert rows(setup["run"]) == {}
    assert "the run is incomplete: 8 samples not run" in result.output
    assert "no pass@1 is reported" in result.output and "pass@1 (" not in result.output
    # too few outages to stop the run, but it says why it is incomplete (a rerun alone won't help)
    said = " ".join(result.output.split())
    assert "outages this session; the last: " in said and "cannot start REPL" in said
    said = " ".join(again.output.split())
    assert again.exit_code == 3 and "HTTP 503: unavailable: cannot start REPL" in said, said


@pytest.mark.parametrize("damage", ["not sqlite", "empty", "a folder"])
def test_a_damaged_run_database_is_one_line_for_every_command(
    setup: dict[str, Any], damage: str
) -> None:
    run = setup["run"]
    run.mkdir()
    if damage == "a folder":
        (run / "run.sqlite").mkdir()
    else:
        (run / "run.sqlite").write_bytes(b"" if damage == "empty" else b"not a database\n" * 100)
    # (an empty file is an empty SQLite database: eval starts a new run in it)
    for args in (
        ["report", str(run)],
        ["compare", str(run), str(run)],
        *[eval_args(setup)] * (damage != "empty"),
    ):
        result = runner.invoke(app, args)
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2, (args[0], result.output, result.exception)
        assert "Traceback" not in result.output and len(lines) == 1, (args[0], result.stderr)
        assert "run.sqlite" in lines[0] and (
            "not a readable run database" in lines[0] or "folder" in lines[0]
        )


def test_damage_found_during_a_run_is_one_line(
    setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from stepprover.eval.store import RunStore

    def malformed(self: RunStore, trajectory: Any) -> None:
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(RunStore, "add", malformed)  # a page cut off, found at the first write
    result = runner.invoke(app, eval_args(setup, "--limit", "1"))
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert lines[-1].startswith(
        "stepprover: a database this command uses is damaged (database disk image"
    )


def test_rejudge_reverifies_a_stored_runs_final_proofs_into_a_new_folder(
    setup: dict[str, Any],
) -> None:
    import hashlib

    from stepprover.eval.store import RunStore
    from stepprover.lean.verify import RULES_VERSION

    assert invoke(eval_args(setup, "--limit", "2")).exit_code == 0
    old = setup["run"]
    before = hashlib.sha256((old / "run.sqlite").read_bytes()).hexdigest()
    new = old.parent / "rejudged"
    args = ["eval", "--rejudge", str(old), "--run-dir", str(new), "--repl", setup["repl"]]
    result = invoke([*args, "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "4 final proofs verified again" in result.output
    assert f"judged under rules {RULES_VERSION}" in result.output
    config = RunStore.read_config(new)
    assert config.rules_version == RULES_VERSION
    assert config.rejudged_from == str(old.resolve())
    with RunStore.reopen(new) as store:
        assert store.problems() == ["a1", "a2"]
        trajectories = list(store.trajectories())
    assert len(trajectories) == 4 and all(t.solved for t in trajectories)
    assert all(t.meta["rejudged"]["outcome_before"] == "proved" for t in trajectories)
    assert hashlib.sha256((old / "run.sqlite").read_bytes()).hexdigest() == before
    # resumable: a rerun finds every sample judged already
    again = invoke([*args, "--workers", "1"])
    assert again.exit_code == 0 and "4 already there" in again.output
    # the old folder is never the target
    same = invoke(["eval", "--rejudge", str(old), "--run-dir", str(old), "--repl", setup["repl"]])
    assert same.exit_code == 2 and "new folder" in same.output
    assert invoke(["eval", "--rejudge", str(old), "--repl", setup["repl"]]).exit_code == 2


def test_eval_without_a_model_is_one_line() -> None:
    result = invoke(["eval", "--benchmark", "minif2f-test"])
    assert result.exit_code == 2 and "Missing option '--model'" in result.output


def test_report_and_compare_show_the_rules_each_run_was_judged_under(
    setup: dict[str, Any],
) -> None:
    from stepprover.eval.store import RunStore
    from stepprover.lean.verify import RULES_VERSION

    assert invoke(eval_args(setup, "--limit", "2")).exit_code == 0
    run = setup["run"]
    report = invoke(["report", str(run)])
    assert f"judged under rules {RULES_VERSION}" in report.output
    assert f"| verification rules | {RULES_VERSION} |" in (run / "report.md").read_text()
    # a copy of the run whose record predates the rules: compare flags it
    older = run.parent / "older"
    older.mkdir()
    (older / "run.sqlite").write_bytes((run / "run.sqlite").read_bytes())
    stored = RunStore.read_config(older).model_dump(mode="json")
    del stored["rules_version"], stored["rejudged_from"]
    with sqlite3.connect(older / "run.sqlite") as con:
        con.execute("UPDATE config SET value = ? WHERE key = 'run'", (json.dumps(stored),))
    assert RunStore.read_config(older).rules_version is None, "an older run still reads"
    compared = invoke(["compare", str(run), str(older)])
    assert compared.exit_code == 0, compared.output
    assert "Judged differently" in compared.output
    assert f"verification rules differ: A {RULES_VERSION}, B not recorded" in compared.output
    same = invoke(["compare", str(run), str(run)])
    assert "Judged differently" not in same.output


def test_a_damaged_trajectory_is_one_line_in_report_and_can_be_run_again(
    setup: dict[str, Any],
) -> None:
    run = setup["run"]
    assert invoke(eval_args(setup, "--limit", "1")).exit_code == 0
    with sqlite3.connect(run / "run.sqlite") as con:  # one row's bytes cut off
        con.execute(
            "UPDATE trajectories SET data = substr(data, 1, 10) "
            "WHERE problem = 'a1' AND sample_index = 0"
        )
    report = runner.invoke(app, ["report", str(run)])
    lines = report.stderr.strip().splitlines()
    assert report.exit_code == 2 and "Traceback" not in report.output, report.output
    assert len(lines) == 1 and "the trajectory of a1 sample 0 is damaged" in lines[0], lines
    assert "--drop-damaged" in lines[0]
    dropped = runner.invoke(app, ["report", str(run), "--drop-damaged"])
    assert "dropped 1 samples whose stored trajectory is damaged (a1 sample 0)" in dropped.stderr
    assert dropped.exit_code == 1, dropped.output  # incomplete now: one sample to run again
    assert sorted(rows(run)) == [("a1", 1)]
    again = runner.invoke(app, eval_args(setup, "--limit", "1"))
    assert again.exit_code == 0, again.output
    assert sorted(rows(run)) == [("a1", 0), ("a1", 1)]
    assert runner.invoke(app, ["report", str(run)]).exit_code == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB file system (tmpfs; needs root and the right to mount)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; return it (delete it to free the space)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:  # unbuffered: nothing left to write at close
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def test_a_full_disk_is_said_so_never_called_damage(
    setup: dict[str, Any], small_disk: Path
) -> None:
    run = small_disk / "run"
    setup = {**setup, "run": run}
    assert invoke(eval_args(setup, "--limit", "1")).exit_code == 0
    filler = fill(small_disk)
    for args in (eval_args(setup, "--limit", "3"), ["report", str(run)]):
        result = runner.invoke(app, args)
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        said = lines[-1]
        assert "damaged" not in said and "aside" not in said and "not a readable" not in said
        assert "disk full" in said or "No space left on device" in said, said
    assert "intact" in said_by(runner.invoke(app, eval_args(setup, "--limit", "3")))
    filler.unlink()  # space freed: the same command resumes the intact run
    resumed = invoke(eval_args(setup, "--limit", "3"))
    assert resumed.exit_code == 0, resumed.output
    assert sorted(rows(run)) == [(p, i) for p in ("a1", "a2", "a3") for i in (0, 1)]


def said_by(result: Result) -> str:
    return str(result.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("signum", "status", "line"),
    [(signal.SIGTERM, 143, "terminated (SIGTERM)"), (signal.SIGINT, 130, "interrupted")],
)
def test_a_signal_stops_eval_with_one_line_and_its_status_and_the_run_resumes(
    setup: dict[str, Any], script_file: Callable[[Any], str], signum: int, status: int, line: str
) -> None:
    from tests.eval.test_store_and_runner import sample_count

    slow = {
        **setup,
        "repl": shlex.join(standin_command("--script", script_file(SCRIPT), "--delay", "0.2")),
    }
    argv = [sys.executable, "-c", SIGINT_AS_FROM_A_TERMINAL, *eval_args(slow, "--samples", "8")]
    run = slow["run"]
    command = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while sample_count(run / "run.sqlite") < 1 and command.poll() is None:
            time.sleep(0.05)
        os.kill(command.pid, signum)
        _, stderr = command.communicate(timeout=120)
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
    assert command.returncode == status, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"{line}; run the same command again to resume {run}"), last
    resumed = invoke(eval_args(slow, "--samples", "8"))
    assert resumed.exit_code == 0, resumed.output


SIGINT_AS_FROM_A_TERMINAL = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv = ['stepprover', *sys.argv[1:]]; "
    "runpy.run_module('stepprover.cli', run_name='__main__', alter_sys=True)"
)
