"""A model server that cannot serve the run, met as a user meets it: `prove` and `eval`
stop before the run with the server's own error (exit 3), and a server that fails once
the run is going leaves retryable samples, never results (stand-in REPL as Lean)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.eval.test_eval_cli import eval_args, invoke, rows, setup
from tests.eval.test_honesty import closed_port
from tests.eval.test_store_and_runner import ANSWER
from tests.models.fake_vllm_server import (
    RawAnswer,
    answering_server,
    completion_answer,
    json_answer,
    text_completion,
)

__all__ = ["setup"]  # the fixture, used by name

HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


def _raw_ids(ids: str) -> RawAnswer:
    """A completion whose token_ids are written as they are (NaN is not JSON, but Python's
    and many servers' JSON writers emit it)."""
    choice = f'{{"index": 0, "text": "x", "finish_reason": "stop", "token_ids": {ids}}}'
    head = '"id": "c", "object": "text_completion", "created": 0, "model": "m"'
    body = f'{{{head}, "choices": [{choice}]}}'
    return 200, "application/json", body.encode()


# fault -> (its answer, words of the server's own error the user must see)
FAULTS: dict[str, tuple[RawAnswer, list[str]]] = {
    "html": ((200, "text/html", HTML), ["not a completion", "502 Bad Gateway"]),
    "no-choices": (completion_answer([]), ["no choices"]),
    "null-text": (
        completion_answer([{"index": 0, "text": None, "finish_reason": "stop", "logprobs": None}]),
        ["text is None"],
    ),
    "nan-id": (_raw_ids("[5, NaN]"), ["token_ids holds nan"]),
    "out-of-range-id": (_raw_ids("[5, 1000000]"), ["token_ids holds 1000000", "the tokenizer has"]),
    "negative-id": (_raw_ids("[-1]"), ["token_ids holds -1"]),
    "unknown-model": (
        json_answer(404, {"error": {"message": "The model `m` does not exist.", "code": 404}}),
        ["404", "The model `m` does not exist."],
    ),
    "422": (
        json_answer(
            422, {"detail": [{"loc": ["body", "prompt"], "msg": "Input should be a string"}]}
        ),
        ["422", "Input should be a string"],
    ),
}


def served_args(s: dict[str, Any], url: str, *extra: str) -> list[str]:
    args = eval_args(s, "--base-url", f"{url}/v1", *extra, backend="openai")
    return ["served-model" if a == str(s["turns"]) else a for a in args]


def prove_args(s: dict[str, Any], url: str, *extra: str) -> list[str]:
    problem = s["bench"].parent / "one.jsonl"
    problem.write_text(s["bench"].read_text().splitlines()[0] + "\n")
    return [
        "prove", "--model", "served-model", "--tokenizer", str(s["tok"]), "--backend", "openai",
        "--base-url", f"{url}/v1", "--problem", str(problem), "--repl", s["repl"], *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("command", ["prove", "eval"])
def test_a_server_that_cannot_serve_the_run_stops_it_before_it_starts(
    fault: str, command: str, setup: dict[str, Any]
) -> None:
    answer, words = FAULTS[fault]
    with answering_server(lambda i, body: answer) as (url, received):
        args = (
            prove_args(setup, url, "--temperature", "0.5")
            if command == "prove"
            else served_args(setup, url, "--temperature", "0.5")
        )
        result = invoke(args)
    said = " ".join(result.output.split())
    assert result.exit_code == 3, said
    assert "the model backend cannot serve this run: model server" in said, said
    assert all(w in said for w in words), said
    assert "Traceback" not in said and "unsolved" not in said and "pass@" not in said
    assert not setup["run"].exists(), "no run folder for a run that cannot be served"
    # One call, made as the run makes them: its sampling and stop ids, a short budget.
    first = received[0]
    assert first["temperature"] == 0.5 and first["max_tokens"] == 8
    assert len(first["stop_token_ids"]) == 2  # EOS and </sketch>
    assert all(r["temperature"] == 0.5 for r in received) and len(received) <= 2  # + text mode


def test_a_bad_temperature_is_the_servers_refusal_not_a_token_id_problem(
    setup: dict[str, Any],
) -> None:
    refusal = json_answer(400, {"error": {"message": "temperature must be at most 2, got 3.0"}})
    with answering_server(lambda i, body: refusal) as (url, _):
        result = invoke(prove_args(setup, url, "--temperature", "3"))
    said = " ".join(result.output.split())
    assert result.exit_code == 3 and "temperature must be at most 2, got 3.0" in said, said
    assert said.index("temperature must be") < said.index("text mode"), "its own words come first"


@pytest.mark.parametrize("value", ["-1", "inf", "nan"])
@pytest.mark.parametrize("command", ["prove", "eval"])
def test_a_temperature_no_server_takes_is_refused_before_the_run(
    value: str, command: str, setup: dict[str, Any]
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    args = prove_args(setup, url) if command == "prove" else served_args(setup, url)
    result = invoke([*args, "--temperature", value])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "--temperature must be a finite number >= 0" in said, said
    assert not setup["run"].exists()


@pytest.mark.parametrize("fault", ["html", "null-text", "nan-id", "unknown-model"])
def test_a_server_failing_mid_run_leaves_retryable_samples_and_a_rerun_finishes_them(
    fault: str, setup: dict[str, Any], tokenizer: Any
) -> None:
    good = text_completion(tokenizer, ANSWER)
    answer, words = FAULTS[fault]
    # It answers the first call (before the run), then fails every call.
    with answering_server(lambda i, body: good if i == 0 else answer) as (url, _):
        broken = invoke(served_args(setup, url, "--limit", "2"))
    said = " ".join(broken.output.split())
    assert broken.exit_code == 3, said
    assert (
        "the run is incomplete: 4 samples retryable after outages, no results (4 x model server"
        in said
    ), said
    assert all(w in said for w in words), said
    assert "pass@1 (" not in said and "outcomes: {" in said, said  # no sample is a result
    assert {finish for finish, _ in rows(setup["run"]).values()} == {"outage"}

    report = invoke(["report", str(setup["run"])])
    assert report.exit_code == 1, report.output
    table = (setup["run"] / "report.md").read_text()
    page = (setup["run"] / "trajectories.html").read_text()
    assert table.count(f" | model server {url}/v1") == 4, table  # every sample, with its error
    assert page.count("retryable, no result") == 4 and "4 samples retryable" in page
    assert all(w.replace("`", "") in page.replace("`", "").replace("&#x27;", "'") for w in words)

    with answering_server(lambda i, body: good) as (url, _):
        resumed = invoke(served_args(setup, url, "--limit", "2"))
    assert resumed.exit_code == 0, resumed.output
    assert {finish for finish, _ in rows(setup["run"]).values()} == {"answered"}
    assert "pass@1 (mean of 2 samples, over all 2 problems): 100.0%" in resumed.output
