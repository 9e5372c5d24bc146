"""Text mode of the openai backend, end to end against ``transformers serve`` (a server
this project did not write: it takes only text prompts and returns neither token ids
nor logprobs), with a tiny model saved to disk and no network."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from stepprover.agent.prompts import STEPFUN_TIR
from stepprover.cli import app
from stepprover.data.problems import find_problem, load_minif2f
from stepprover.errors import ModelBackendUnavailable, ModelServerUnsupported
from stepprover.models.base import SamplingParams
from stepprover.models.openai_compat import OpenAICompatGenerator
from tests.conftest import standin_command
from tests.fakes.tiny_model import memorised_model, reference_tokenizer

NAME = "mathd_algebra_10"
PROBLEM = find_problem(load_minif2f("valid"), NAME)
SKETCH = f"Let me check.\n<sketch>\n{PROBLEM.formal_statement}  norm_num\n</sketch>"
ANSWER = (
    f"It checks.\n</think>\n```lean4\n{PROBLEM.formal_statement}  norm_num [abs_of_nonneg]\n```"
)
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
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A tiny Qwen2 that has memorised a sketch, its feedback and an answer, saved with the
    tags as ordinary tokens (as released checkpoints have them) and served by
    ``transformers serve`` on CPU, offline. Yields (base URL, model folder)."""
    pytest.importorskip("torch")
    tokenizer = reference_tokenizer(add_bos=False)
    text = STEPFUN_TIR.render(tokenizer, PROBLEM) + SKETCH + "\n<REPL>\n{}\n</REPL>" + ANSWER
    model = memorised_model(tokenizer, text, seed=2, steps=250)
    model.generation_config.eos_token_id = model.generation_config.pad_token_id = (
        tokenizer.eos_token_id
    )
    path = tmp_path_factory.mktemp("served-model")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cli = Path(sys.executable).with_name("transformers")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    server = subprocess.Popen(
        [str(cli), "serve", str(path), "--port", str(port), "--device", "cpu"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300  # startup imports torch on a possibly busy machine
        while True:
            if server.poll() is not None:
                pytest.fail(f"transformers serve exited: {server.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "transformers serve did not come up"
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1", path
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.mark.slow
def test_prove_through_transformers_serve(
    served: tuple[str, Path], script_file: Callable[[Any], str]
) -> None:
    url, model = served
    repl = shlex.join(standin_command("--script", script_file(SCRIPT)))
    args = [
        "prove",
        "--model",
        str(model),
        "--base-url",
        url,
        "--minif2f",
        NAME,
        "--temperature",
        "0",
        "--repl",
        repl,
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "refused a token-id prompt" in result.stderr and "text mode" in result.stderr
    record = json.loads(result.stdout)
    assert record["verdict"]["outcome"] == "proved" and len(record["repl_calls"]) == 1
    assert (
        record["segments"][0]["text"] == SKETCH and record["segments"][0]["finish_reason"] == "stop"
    )
    assert record["segments"][2]["text"] == ANSWER
    forced = CliRunner().invoke(app, [*args[:-1], "--server-prompt", "text", "--json"])
    assert forced.exit_code == 0 and "refused" not in forced.stderr


def test_a_server_refusing_token_id_prompts_stops_prove_before_the_run(
    served: tuple[str, Path], script_file: Callable[[Any], str]
) -> None:
    # transformers serve answers every token-id prompt 422: with --server-prompt token_ids the
    # run cannot be served, which the call before the run says with the server's own error.
    url, model = served
    repl = shlex.join(standin_command("--script", script_file(SCRIPT)))
    args = ["prove", "--model", str(model), "--base-url", url, "--minif2f", NAME,
            "--server-prompt", "token_ids", "--repl", repl]  # fmt: skip
    result = CliRunner().invoke(app, args)
    said = " ".join(result.output.split())
    assert result.exit_code == 3, said
    assert "the model backend cannot serve this run" in said and "422" in said, said
    assert "unsolved" not in said and "<sketch>" not in said


async def test_text_mode_settles_once_and_restores_the_stop_token(served: tuple[str, Path]) -> None:
    url, model = served
    tokenizer = reference_tokenizer(add_bos=False)
    stops = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("</sketch>")]
    prompt = tokenizer.encode(STEPFUN_TIR.render(tokenizer, PROBLEM), add_special_tokens=False)
    greedy = SamplingParams(temperature=0.0)
    generator = OpenAICompatGenerator(url, str(model), tokenizer, max_retries=0)
    first = await generator.generate(prompt, greedy, stops)
    assert generator.prompt_mode == "text"
    assert (
        first.finish_reason == "stop"
        and first.stop_token_id == stops[1]
        and first.token_ids[-1] == stops[1]
    )
    assert tokenizer.decode(first.token_ids) == SKETCH
    short = await generator.generate(prompt, greedy.with_max_tokens(3), stops)
    assert short.finish_reason == "length" and len(short.token_ids) <= 3
    await generator.close()
    strict = OpenAICompatGenerator(
        url, str(model), tokenizer, max_retries=0, prompt_mode="token_ids"
    )
    with pytest.raises(ModelBackendUnavailable, match="UnprocessableEntityError: Error code: 422"):
        await strict.generate(prompt, greedy, stops)
    await strict.close()
    training = OpenAICompatGenerator(url, str(model), tokenizer, max_retries=0, logprobs=True)
    with pytest.raises(ModelBackendUnavailable, match=r"422.*text mode cannot.*logprobs"):
        await training.generate(prompt, greedy, stops)
    await training.close()


async def test_text_mode_refuses_what_it_cannot_do(tokenizer: Any) -> None:
    with pytest.raises(ModelServerUnsupported, match="logprobs"):
        OpenAICompatGenerator(
            "http://127.0.0.1:9/v1", "m", tokenizer, prompt_mode="text", logprobs=True
        )
    generator = OpenAICompatGenerator(
        "http://127.0.0.1:9/v1", "m", tokenizer, prompt_mode="text", max_retries=0
    )
    stops = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("</sketch>")]
    with pytest.raises(
        ModelServerUnsupported, match="</sketch> as ordinary tokens"
    ):  # special here
        await generator.generate([1, 2], SamplingParams(), stops)
    await generator.close()


@pytest.mark.parametrize(
    ("text", "extra", "expected"),
    [
        ("x <sketch>a</sketch>", {}, "close"),  # the server kept the stop string
        ("x <sketch>a", {}, "close"),  # it cut the stop string: unclosed sketch
        ("</think> done", {}, "eos"),
        ("<sketch>a</sketch> then </think> done", {}, "eos"),
        (
            "x <sketch>a",
            {"stop_reason": None},
            "close",
        ),  # vLLM says EOS with None... but None says nothing
        ("x", {"stop_reason": "</sketch>"}, "close"),
        (
            "<sketch>a",
            {"stopping_word": "<｜end▁of▁sentence｜>"},
            "eos",
        ),  # llama.cpp names the word
    ],
    ids=["kept", "cut", "eos", "closed-then-eos", "none-reason", "vllm-reason", "llamacpp-word"],
)
def test_which_stop_ended_a_text_call(text: str, extra: dict[str, Any], expected: str) -> None:
    tokenizer = reference_tokenizer(add_bos=False)
    eos, close = tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("</sketch>")
    generator = OpenAICompatGenerator("http://127.0.0.1:9/v1", "m", tokenizer, prompt_mode="text")
    choice = SimpleNamespace(model_extra=extra)
    assert (
        generator._text_stop(text, choice, [eos, close], eos)
        == {"close": close, "eos": eos}[expected]
    )
