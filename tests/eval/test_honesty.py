"""Outages are not results; datasets are checked; benchmark soundness is visible; runs compare."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stepprover.agent.loop import LoopConfig, TirAgent
from stepprover.agent.trajectory import Finish, Trajectory
from stepprover.cli import app
from stepprover.data.defects import defects_for, shipped_defect_lists, start_line
from stepprover.data.problems import BUNDLED, DataError, bundled_path, file_sha256, load_jsonl
from stepprover.errors import (
    LeanUnavailable,
    ModelBackendUnavailable,
    PoolClosed,
    ReplStartError,
    RunStopped,
    outage_of,
)
from stepprover.eval.compare import compare_runs
from stepprover.eval.runner import EvalPlan, OutageBreaker, run_samples
from stepprover.eval.store import RunConfig, RunStore
from stepprover.eval.summary import result_lines, summarize
from stepprover.lean.outcome import CommandStatus
from stepprover.lean.pool import PoolConfig, ReplPool
from stepprover.lean.process import ProcessConfig
from stepprover.lean.remote import RemoteLean
from stepprover.lean.verify import LeanVerifier, Outcome, Verdict
from stepprover.models.base import SamplingParams
from stepprover.models.openai_compat import OpenAICompatGenerator
from stepprover.models.scripted import ScriptedGenerator
from tests.eval.test_store_and_runner import ANSWER, SKETCH, problems
from tests.models.fake_vllm_server import FakeVllmState, fake_vllm_server

MINIF2F_SHA = file_sha256(bundled_path("minif2f"))
CONFIG = RunConfig(
    model="m",
    prompt_style="stepfun-tir",
    samples=2,
    sampling={"temperature": 1.0},
    budgets={"max_context_tokens": 20480},
    lean="standin",
    dataset="minif2f-test",
    dataset_sha256=MINIF2F_SHA,
    split="test",
)


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample(
    problem: str,
    index: int,
    solved: bool,
    finish: Finish = Finish.ANSWERED,
    error: str | None = None,
) -> Trajectory:
    verdict = (
        None
        if finish is not Finish.ANSWERED
        else Verdict(outcome=Outcome.PROVED if solved else Outcome.LEAN_ERROR)
    )
    return Trajectory(
        problem=problem,
        prompt_text="p",
        prompt_ids=[1],
        sample_index=index,
        finish=finish,
        verdict=verdict,
        error=error,
    )


# ---------------------------------------------------------------- datasets


def test_duplicate_names_are_refused_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bench.jsonl"
    rows = [{"name": n, "formal_statement": "theorem x : True := by\n"} for n in ("a0", "a1", "a0")]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(
        DataError, match=rf"{path}:3: duplicate problem name 'a0' \(first on line 1\)"
    ):
        load_jsonl(path)
    with pytest.raises(DataError, match="duplicate"):  # a split filter does not hide it
        load_jsonl(path, split="test")


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bench.jsonl"
    path.write_text(
        '{"name": "a0", "formal_statement": "theorem x : True := by\\n"}\n\n{"name": "a1"\n'
    )
    with pytest.raises(DataError, match=rf"^{path}:3: not a problem record \(invalid JSON: "):
        load_jsonl(path)
    path.write_text('{"name": "a0"}\n')
    with pytest.raises(DataError) as info:
        load_jsonl(path)
    assert str(info.value) == f"{path}:1: not a problem record (formal_statement: Field required)"


PROBLEM_COUNTS = {
    "minif2f": 488,
    "minif2f-goedel-v2": 244,
    "minif2f-yangky11": 488,
    "putnambench": 672,
    "combibench": 100,
    "proofnet": 371,
}
"""As PROVENANCE.md states them."""


@pytest.mark.parametrize("name", list(BUNDLED))
def test_bundled_benchmarks_have_unique_names(name: str) -> None:
    assert len(load_jsonl(bundled_path(name))) == PROBLEM_COUNTS[name]


# ---------------------------------------------------------------- known defects


@pytest.mark.parametrize("name", list(BUNDLED))
def test_each_defect_matches_the_bundled_statement_and_has_a_source(name: str) -> None:
    listed = next(d for d in shipped_defect_lists() if d.benchmark == name)
    assert listed.sha256 == file_sha256(bundled_path(name)), (
        "the list was checked against this file"
    )
    statements = {p.name: p.formal_statement for p in load_jsonl(bundled_path(name))}
    names = [d.name for d in listed.defects]
    assert len(names) == len(set(names))
    for defect in listed.defects:
        assert defect.evidence in statements[defect.name], defect.name
        assert defect.source.startswith(("https://github.com/", "Goedel-LM/Goedel-Prover-V2 ")), (
            defect
        )
        assert defect.reason and "\n" not in defect.reason
        if defect.corrected_in:  # the corrected variant really differs there
            fixed = {
                p.name: p.formal_statement
                for p in load_jsonl(bundled_path(defect.corrected_in[:-5]))
            }
            assert defect.evidence not in fixed[defect.name], defect.name


def test_goedel_v2_corrections_are_all_accounted_for() -> None:
    """Of the 15 statements Goedel-Prover-V2 corrected, 14 are listed; the 15th
    (amc12a_2021_p18: `25 /. 11` vs `25 / 11`) denotes the same rational."""
    ours = {p.name: p.formal_statement for p in load_jsonl(bundled_path("minif2f"), split="test")}
    theirs = {p.name: p.formal_statement for p in load_jsonl(bundled_path("minif2f-goedel-v2"))}
    changed = {n for n in theirs if theirs[n] != ours[n]}
    listed = defects_for(MINIF2F_SHA)
    assert listed is not None and len(changed) == 15
    corrected = {d.name for d in listed.defects if d.corrected_in == "minif2f-goedel-v2-test"}
    assert corrected == changed - {"amc12a_2021_p18"}


def test_start_line_counts_defects_and_names_the_corrected_variant() -> None:
    names = [p.name for p in load_jsonl(bundled_path("minif2f"), split="test")]
    line = start_line("minif2f-test", MINIF2F_SHA, names)
    assert line is not None
    assert line.startswith(
        "minif2f-test: 16 known-defective statements (10 false, 1 unprovable, "
        "5 mistranslated) among these 244 problems"
    )
    assert line.endswith("--benchmark minif2f-goedel-v2-test has 14 of them corrected")
    assert start_line("x.jsonl", "00" * 32, names) is None
    assert "none of these 2 problems" in (start_line("minif2f-test", MINIF2F_SHA, ["a", "b"]) or "")


def test_headline_stays_full_and_sound_pass1_leaves_defects_out(tmp_path: Path) -> None:
    store = RunStore.open(tmp_path, CONFIG)
    store.record_problems(["mathd_algebra_10", "mathd_algebra_314", "mathd_numbertheory_618", "p4"])
    for t in [
        sample("mathd_algebra_10", 0, True),
        sample("mathd_algebra_10", 1, False),
        sample("mathd_algebra_314", 0, True),
        sample("mathd_algebra_314", 1, True),
        sample("mathd_numbertheory_618", 0, True),
        sample("mathd_numbertheory_618", 1, False),
        sample("p4", 0, False),
        sample("p4", 1, False),
    ]:
        store.add(t)
    summary = summarize(store, CONFIG)
    store.close()
    assert summary.complete
    assert summary.headline().value == pytest.approx((0.5 + 1 + 0.5 + 0) / 4)
    sound = summary.sound_pass1()
    assert sound is not None and sound.value == pytest.approx((0.5 + 0) / 2)
    lines = result_lines(summary)
    assert lines[0].startswith("pass@1 (mean of 2 samples, over all 4 problems): 50.0%")
    assert lines[1].startswith(
        "pass@1 over the 2 statements not known to be defective (2 known-defective "
        "statements (1 false, 1 mistranslated) left out"
    )
    assert lines[2].startswith(
        "VERIFIER OR STATEMENT PROBLEM: 1 samples proved mathd_numbertheory_618"
    )
    assert len(lines) == 3, "a mistranslated statement's proof is not flagged"

    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    md = (tmp_path / "report.md").read_text()
    assert "## Benchmark soundness" in md and "statements not known to be defective: **25.0%" in md
    assert "| mathd_numbertheory_618 | false | 1/2 |" in md
    assert "**Verifier or statement problem:** 1 samples proved `mathd_numbertheory_618`" in md


# ---------------------------------------------------------------- outages


def test_outage_classification() -> None:
    assert outage_of(ReplStartError("spawn failed")) is not None
    assert outage_of(ReplStartError("unknown package", refused=True)) is None, (
        "Lean judged the imports"
    )
    assert isinstance(outage_of(PoolClosed("closed")), LeanUnavailable)
    model = ModelBackendUnavailable("model server http://x/v1", "APIConnectionError: refused")
    assert outage_of(model) is model and outage_of(ValueError("bug")) is None


async def test_model_server_down_or_failing_is_an_outage(tokenizer: Any) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    down = OpenAICompatGenerator(url, "m", tokenizer, max_retries=0)
    with pytest.raises(ModelBackendUnavailable, match=rf"model server {url}: APIConnectionError"):
        await down.generate([1], SamplingParams(max_tokens=4), [0])
    await down.close()
    state = FakeVllmState(lambda body: ([1], "stop", None), fail_first=100)
    with fake_vllm_server(state) as served:
        failing = OpenAICompatGenerator(served, "m", tokenizer, max_retries=1)
        with pytest.raises(ModelBackendUnavailable, match="InternalServerError"):
            await failing.generate([1], SamplingParams(max_tokens=4), [0])
        await failing.close()
    assert len(state.requests) == 2, "retried before giving up"


async def test_no_worker_can_start_gives_no_verdict(tokenizer: Any, tmp_path: Path) -> None:
    """A pool that cannot start a REPL: the verifier raises instead of returning a
    crash verdict, the sample is stored as retryable, and the breaker stops the run."""
    broken = PoolConfig(
        process=ProcessConfig(command=[str(tmp_path / "no-such-repl")]),
        workers=1,
        expected_worker_rss_mb=50,
    )
    generator = ScriptedGenerator.replaying(tokenizer, [SKETCH, ANSWER])
    store = RunStore.open(tmp_path / "run", CONFIG)
    async with ReplPool(broken) as pool:
        with pytest.raises(LeanUnavailable):
            await LeanVerifier(pool).check("import Mathlib\ntheorem p : True := trivial")
        agent = TirAgent(generator, pool, LeanVerifier(pool), LoopConfig())
        chosen = problems(["p1", "p2", "p3"])
        with pytest.raises(RunStopped, match=r"3 consecutive outages .* cannot start REPL"):
            await run_samples(
                agent,
                store,
                EvalPlan(chosen, samples=2, concurrency=1),
                {"p1", "p2", "p3"},
                breaker=OutageBreaker(3),
            )
    assert len(store.retryable()) == 3 and store.done() == set() and store.results() == []
    assert all(t.finish is Finish.OUTAGE for t in store.trajectories())
    store.close()


def test_breaker_counts_only_consecutive_outages() -> None:
    breaker = OutageBreaker(3)
    outage = LeanUnavailable("verification service http://x/api/run", "HTTP 503")
    breaker.outage(outage)
    breaker.outage(outage)
    breaker.result()  # a sample that got a result resets the count
    breaker.outage(outage)
    breaker.outage(outage)
    with pytest.raises(RunStopped, match="verification service http://x/api/run: HTTP 503"):
        breaker.outage(outage)
    OutageBreaker(0).outage(outage)  # 0: never stops


def test_report_of_an_incomplete_run_withholds_pass1(tmp_path: Path) -> None:
    store = RunStore.open(tmp_path, CONFIG)
    store.record_problems(["a", "b"])
    store.add(sample("a", 0, True))
    store.add(sample("a", 1, True))
    store.add(
        sample("b", 0, False, Finish.OUTAGE, "model server http://h/v1: APIConnectionError: x")
    )
    store.close()
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1
    assert "pass@1 (" not in result.output and "no pass@1 is reported" in result.output
    said = " ".join(result.output.split())
    assert "1 samples retryable after outages, no results (1 x model server http://h/v1" in said
    assert "1 samples not run" in result.output  # b #1 never ran
    md = (tmp_path / "report.md").read_text()
    assert "**not reported: incomplete run**" in md
    assert "| b | 0 | model server http://h/v1: APIConnectionError: x |" in md
    assert "## pass@k" not in md

    allowed = CliRunner().invoke(app, ["report", str(tmp_path), "--allow-incomplete"])
    assert allowed.exit_code == 1
    assert (
        "INCOMPLETE RUN, unfinished samples left out: pass@1 (mean of 2 samples, over all 2 "
        "problems): 50.0%" in allowed.output
    )
    assert "(INCOMPLETE RUN)" in (tmp_path / "report.md").read_text()


def test_a_run_with_no_finished_sample_shows_no_pass1_even_when_allowed(tmp_path: Path) -> None:
    store = RunStore.open(tmp_path, CONFIG)
    store.record_problems(["a", "b"])
    store.add(
        sample("b", 0, False, Finish.OUTAGE, "model server http://h/v1: APIConnectionError: x")
    )
    store.close()
    allowed = CliRunner().invoke(app, ["report", str(tmp_path), "--allow-incomplete"])
    assert allowed.exit_code == 1
    assert "no sample has finished yet, so there is no pass@1 to show" in allowed.output
    assert "pass@1 (" not in allowed.output and "0.0%" not in allowed.output
    assert "| **m (this run)** | **not reported" in (tmp_path / "report.md").read_text()


# ---------------------------------------------------------------- compare


def make_run(folder: Path, solved: dict[str, int], config: RunConfig = CONFIG) -> Path:
    store = RunStore.open(folder, config)
    store.record_problems(list(solved))
    for name, count in solved.items():
        for index in range(config.samples):
            store.add(sample(name, index, index < count))
    store.close()
    return folder


def test_compare_runs(tmp_path: Path) -> None:
    a = make_run(tmp_path / "a", {"x": 2, "y": 1, "z": 0, "w": 2})
    b = make_run(
        tmp_path / "b",
        {"x": 0, "y": 1, "z": 2, "w": 2},
        CONFIG.model_copy(update={"model": "other", "sampling": {"temperature": 0.6}}),
    )
    result = CliRunner().invoke(app, ["compare", str(a), str(b)])
    assert result.exit_code == 0, result.output
    # A: (1 + .5 + 0 + 1) / 4; B: (0 + .5 + 1 + 1) / 4; paired difference 0
    assert "| **A - B** (paired bootstrap, 95%) | **+0.0 points [" in result.output
    assert "## Solved by A, not by B (1)\n\nx" in result.output
    assert "## Solved by B, not by A (1)\n\nz" in result.output
    assert '- model: A "m", B "other"' in result.output
    assert "- sampling.temperature: A 1.0, B 0.6" in result.output
    written = a / "compare-b.md"
    assert written.read_text() in result.output

    c = make_run(tmp_path / "c", {"x": 1, "y": 1, "v": 0})
    refused = CliRunner().invoke(app, ["compare", str(a), str(c)])
    assert refused.exit_code == 2 and "cover different problems: 2 only in" in refused.output
    shared = CliRunner().invoke(app, ["compare", str(a), str(c), "--intersect"])
    assert shared.exit_code == 0, shared.output
    assert "Compared on the 2 shared problems only (--intersect): x, y" in shared.output
    assert "Only in A (2): w, z" in shared.output and "Only in B (1): v" in shared.output
    comparison = compare_runs(a, c, intersect=True)
    assert comparison.difference.value == pytest.approx(((1 - 0.5) + 0) / 2)


def test_compare_refuses_an_incomplete_run(tmp_path: Path) -> None:
    a = make_run(tmp_path / "a", {"x": 1, "y": 1})
    b = make_run(tmp_path / "b", {"x": 1})
    store = RunStore.reopen(b)
    store.record_problems(["y"])
    store.close()
    refused = CliRunner().invoke(app, ["compare", str(a), str(b)])
    assert refused.exit_code == 2 and "incomplete" in refused.output
    allowed = CliRunner().invoke(app, ["compare", str(a), str(b), "--allow-incomplete"])
    assert allowed.exit_code == 0 and "INCOMPLETE: finished samples only" in allowed.output


async def test_a_service_that_cannot_start_lean_is_an_outage(tmp_path: Path) -> None:
    """No REPL can start behind the service: /api/run gives an infrastructure outcome and
    /api/verify answers 503, which the client reports as an outage after its retries."""
    from tests.server.conftest import running_service, standin_settings

    settings = standin_settings(script=str(tmp_path / "no-such-repl.py"))
    with running_service(settings) as url:
        remote = RemoteLean(url, retries=1, backoff=0.001)
        outcome = await remote.run_command("import Mathlib", "example : True := trivial", 5)
        assert outcome.status is CommandStatus.INFRASTRUCTURE
        with pytest.raises(
            LeanUnavailable, match=rf"verification service {url}/api/verify: .*HTTP 503"
        ):
            await remote.check("import Mathlib\ntheorem p : True := trivial")
        await remote.close()
