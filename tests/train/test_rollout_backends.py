"""Where GRPO rollouts sample: turns answered on the trainer's thread in batches (colocated
vLLM), a vLLM server over its OpenAI API (server mode), and the settings we refuse."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from stepprover.agent.loop import LoopConfig
from stepprover.lean.pool import ReplPool
from stepprover.lean.verify import LeanVerifier, VerifyConfig
from stepprover.models.base import Generation, SamplingParams
from stepprover.train.bridge import LoopThread
from stepprover.train.config import GRPORunConfig, check_vllm_rollout_args
from stepprover.train.grpo import TirRollout
from stepprover.train.rollout_backends import (
    TrainerThreadGenerator,
    TurnRequest,
    colocated_vllm_batch,
    rollout_generator,
)
from tests.conftest import standin_pool_config
from tests.models.fake_vllm_server import FakeVllmState, fake_vllm_server
from tests.train.trivial_problem import ANSWER, PROBLEM, SCRIPT, SKETCH


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


def echo_lengths(calls: list[tuple[int, int]]) -> Callable[[list[TurnRequest]], list[Generation]]:
    """A backend that answers each turn with one token: its prompt's length."""

    def generate(batch: list[TurnRequest]) -> list[Generation]:
        calls.append((threading.get_ident(), len(batch)))
        return [Generation([len(r.prompt_ids)], "length", None) for r in batch]

    return generate


def test_turns_are_answered_in_batches_on_the_serving_thread(
    tokenizer: Any, loop_thread: LoopThread
) -> None:
    calls: list[tuple[int, int]] = []
    generator = TrainerThreadGenerator(tokenizer, echo_lengths(calls))

    async def turns() -> list[Generation]:
        return await asyncio.gather(
            *(generator.generate([0] * n, SamplingParams(), [1]) for n in range(1, 9))
        )

    done = loop_thread.submit(turns())
    generator.serve_until(done)
    assert [g.token_ids for g in done.result()] == [[n] for n in range(1, 9)], (
        "each turn gets its own answer"
    )
    assert {thread for thread, _ in calls} == {threading.get_ident()}
    assert sum(size for _, size in calls) == 8 and len(calls) < 8


def test_a_failing_batch_fails_its_turns_not_the_caller(
    tokenizer: Any, loop_thread: LoopThread
) -> None:
    def broken(batch: list[TurnRequest]) -> list[Generation]:
        raise RuntimeError("CUDA out of memory")

    generator = TrainerThreadGenerator(tokenizer, broken)

    async def turns() -> list[BaseException | Generation]:
        return await asyncio.gather(
            *(generator.generate([1], SamplingParams(), [1]) for _ in range(3)),
            return_exceptions=True,
        )

    done = loop_thread.submit(turns())
    generator.serve_until(done)
    assert all(isinstance(r, RuntimeError) and "out of memory" in str(r) for r in done.result())


def test_a_cancelled_turn_is_dropped_before_the_backend(
    tokenizer: Any, loop_thread: LoopThread
) -> None:
    seen: list[list[int]] = []

    def record(batch: list[TurnRequest]) -> list[Generation]:
        seen.extend(r.prompt_ids for r in batch)
        return [Generation([1], "length", None) for _ in batch]

    generator = TrainerThreadGenerator(tokenizer, record)

    cancelled = threading.Event()

    async def scenario() -> Generation:
        abandoned = asyncio.ensure_future(generator.generate([9, 9], SamplingParams(), [1]))
        await asyncio.sleep(0)
        abandoned.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await abandoned
        cancelled.set()
        return await generator.generate([1], SamplingParams(), [1])

    done = loop_thread.submit(scenario())
    # The cancellation lands before the trainer's thread looks at the queue (by progress).
    assert cancelled.wait(timeout=120)
    generator.serve_until(done)
    assert done.result().token_ids == [1] and seen == [[1]]


class RecordingLLM:
    """Answers like ``vllm.LLM.generate``: the stop token and per-position logprob maps."""

    def __init__(self, stop: int) -> None:
        self.stop = stop
        self.calls: list[tuple[list[Any], list[Any]]] = []

    def generate(self, prompts: list[Any], sampling_params: list[Any], use_tqdm: bool) -> list[Any]:
        self.calls.append((prompts, sampling_params))
        ids = [7, 8, self.stop]
        logprobs = [
            {7: SimpleNamespace(logprob=-0.1)},
            {8: SimpleNamespace(logprob=float("nan"))},
            {self.stop: SimpleNamespace(logprob=-0.3)},
        ]
        return [
            SimpleNamespace(outputs=[SimpleNamespace(token_ids=ids, logprobs=logprobs)])
            for _ in prompts
        ]


def test_colocated_batch_asks_vllm_for_what_the_loop_needs() -> None:
    llm = RecordingLLM(stop=5)
    batch = [
        TurnRequest([1, 2], SamplingParams(temperature=0.6, max_tokens=100), [5, 6]),
        TurnRequest([3], SamplingParams(max_tokens=40, seed=9), [5, 6]),
    ]
    out = colocated_vllm_batch(llm, sampling_params_type=dict)(batch)
    prompts, params = llm.calls[0]
    assert prompts == [{"prompt_token_ids": [1, 2]}, {"prompt_token_ids": [3]}]
    assert [p["max_tokens"] for p in params] == [100, 40] and params[0]["temperature"] == 0.6
    assert params[1]["seed"] == 9 and all(p["stop_token_ids"] == [5, 6] for p in params)
    assert all(
        p["logprobs"] == 0 and p["include_stop_str_in_output"] and not p["skip_special_tokens"]
        for p in params
    )
    assert (
        out[0].token_ids == [7, 8, 5]
        and out[0].finish_reason == "stop"
        and out[0].stop_token_id == 5
    )
    assert out[0].logprobs == [-0.1, None, -0.3], "NaN logprobs become None, as TRL expects"


def test_vllm_settings_the_rollouts_cannot_honour_are_refused() -> None:
    args = SimpleNamespace(
        use_vllm=True,
        vllm_mode="colocate",
        vllm_tensor_parallel_size=2,
        vllm_enable_sleep_mode=False,
        vllm_max_model_length=None,
    )
    with pytest.raises(ValueError, match="vllm_mode: server"):
        check_vllm_rollout_args(args, 20480)
    args.vllm_tensor_parallel_size, args.vllm_enable_sleep_mode = 1, True
    with pytest.raises(ValueError, match="sleep_mode"):
        check_vllm_rollout_args(args, 20480)
    args.vllm_enable_sleep_mode, args.vllm_max_model_length = False, 16384
    with pytest.raises(ValueError, match="max_context_tokens"):
        check_vllm_rollout_args(args, 20480)
    check_vllm_rollout_args(args, 16384)
    args.vllm_mode, args.vllm_tensor_parallel_size = "server", 8
    check_vllm_rollout_args(args, 20480)


def test_grpo_samples_at_the_temperature_trl_trains_at(tmp_path: Path) -> None:
    base = {"model": "m", "prompts": "p.jsonl", "output_dir": str(tmp_path)}
    config = GRPORunConfig(**base, loop={"temperature": 0.8, "top_p": 0.9})
    args = config.trl_config(report_to="none", use_cpu=True, max_completion_length=20480)
    assert (args.temperature, args.top_p) == (0.8, 0.9)
    with pytest.raises(ValueError, match=r"loop\.temperature"):
        GRPORunConfig(**base, loop={"temperature": 0.8}, trl={"temperature": 1.0})


def responder(tokenizer: Any) -> Callable[[dict[str, Any]], tuple[list[int], str, int | None]]:
    """A sketch first; the final answer once the context holds REPL feedback."""
    close, eos = tokenizer.convert_tokens_to_ids("</sketch>"), tokenizer.eos_token_id

    def respond(body: dict[str, Any]) -> tuple[list[int], str, int | None]:
        if tokenizer.decode(body["prompt"], skip_special_tokens=False).rstrip().endswith("</REPL>"):
            return [*tokenizer.encode(ANSWER, add_special_tokens=False), eos], "stop", None
        ids = tokenizer.encode(SKETCH, add_special_tokens=False)
        assert ids[-1] == close
        return ids, "stop", close

    return respond


class CountingAccelerator:
    num_processes, process_index = 1, 0

    def __init__(self) -> None:
        self.barriers = 0

    def wait_for_everyone(self) -> None:
        self.barriers += 1


def test_server_mode_rollouts_return_aligned_logprobs(
    tokenizer: Any, script_file: Callable[[Any], str], tmp_path: Path, loop_thread: LoopThread
) -> None:
    pool = ReplPool(standin_pool_config("--script", script_file(SCRIPT), workers=2))
    rollout = TirRollout(
        pool,
        LeanVerifier(pool, VerifyConfig(timeout=5)),
        loop_thread,
        LoopConfig(max_context_tokens=600),
        max_completion_length=512,
        log_path=tmp_path / "rollouts.jsonl",
    )
    state = FakeVllmState(
        responder(tokenizer), decode=lambda ids: tokenizer.decode(ids, skip_special_tokens=False)
    )
    try:
        with fake_vllm_server(state) as url:
            trainer = SimpleNamespace(
                use_vllm=True,
                vllm_mode="server",
                processing_class=tokenizer,
                accelerator=CountingAccelerator(),
                args=SimpleNamespace(vllm_server_base_url=url.removesuffix("/v1")),
            )
            out = rollout([PROBLEM.model_dump_json()] * 2, trainer)
    finally:
        loop_thread.run(pool.close())
    assert out["verified"] == [True, True] and trainer.accelerator.barriers == 1
    assert all(r["logprobs"] == 0 and r["model"] == "served-model" for r in state.requests)
    for ids, mask, logprobs in zip(
        out["completion_ids"], out["env_mask"], out["logprobs"], strict=True
    ):
        assert len(ids) == len(mask) == len(logprobs)
        assert [lp for lp, m in zip(logprobs, mask, strict=True) if m] == [-0.5] * sum(mask)
        assert 0 in mask and all(lp == 0.0 for lp, m in zip(logprobs, mask, strict=True) if not m)


def test_a_crashed_colocated_engine_gives_no_reward_and_a_reason(
    tokenizer: Any, script_file: Callable[[Any], str], tmp_path: Path, loop_thread: LoopThread
) -> None:
    class DeadLLM:
        def generate(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("engine core died")

    pool = ReplPool(standin_pool_config("--script", script_file(SCRIPT), workers=1))
    rollout = TirRollout(
        pool,
        LeanVerifier(pool, VerifyConfig(timeout=5)),
        loop_thread,
        LoopConfig(),
        max_completion_length=64,
        log_path=tmp_path / "rollouts.jsonl",
        generator_for=lambda t: rollout_generator(t, sampling_params_type=dict),
    )
    trainer = SimpleNamespace(
        use_vllm=True,
        vllm_mode="colocate",
        processing_class=tokenizer,
        vllm_generation=SimpleNamespace(llm=DeadLLM()),
    )
    try:
        out = rollout([PROBLEM.model_dump_json()] * 2, trainer)
    finally:
        loop_thread.run(pool.close())
    # an outage is not the model's failure: reward None (TRL: advantage 0, out of the group's
    # statistics), and the empty completion becomes one masked EOS, since TRL reads ids[-1]
    assert out["verified"] == [None, None] and out["logprobs"] is None
    assert out["completion_ids"] == [[tokenizer.eos_token_id]] * 2 and out["env_mask"] == [[0]] * 2
    rows = [json.loads(line) for line in (tmp_path / "rollouts.jsonl").read_text().splitlines()]
    assert [r["reward"] for r in rows] == [None, None]
    assert all("engine core died" in r["reason"] for r in rows)


def test_lean_settings_name_where_training_runs_lean() -> None:
    from stepprover.train.config import LeanSettings
    from stepprover.train.run import lean_backend

    ray = lean_backend(LeanSettings(repl="python3 standin.py", workers=3, ray="auto"))
    assert ray.ray_address == "auto" and ray.pool_config is not None
    assert (
        ray.pool_config.process.command == ["python3", "standin.py"]
        and ray.pool_config.workers == 3
    )
    service = lean_backend(LeanSettings(url="http://lean:8000", api_key="k"))
    assert service.pool_config is None and (service.url, service.api_key) == (
        "http://lean:8000",
        "k",
    )


def test_logged_rates_cover_every_training_process() -> None:
    import torch

    from stepprover.train.grpo import summed_over_processes

    class TwoRanks:
        num_processes, device = 2, "cpu"

        def gather(self, mine: Any) -> Any:  # the other rank: 4 rollouts, 3 solved
            return torch.cat([mine, torch.tensor([[4.0, 3.0]], dtype=mine.dtype)])

    assert summed_over_processes(SimpleNamespace(accelerator=TwoRanks()), [4, 1]) == [8.0, 4.0]
    assert summed_over_processes(SimpleNamespace(), [4, 1]) == [4.0, 1.0]


def test_a_model_server_with_an_endless_models_list_is_an_error_not_an_oom() -> None:
    import asyncio
    import threading

    import httpx

    from stepprover.train.rollout_backends import served_model
    from tests.fakes.endless_http import endless_http_server

    started, stop = threading.Event(), threading.Event()
    where: list[str] = []

    async def serve() -> None:
        async with endless_http_server() as (url, _):
            where.append(url)
            started.set()
            await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    try:
        assert started.wait(60)
        with pytest.raises(httpx.RemoteProtocolError, match="answered a body over"):
            served_model(where[0] + "/chunked")
    finally:
        stop.set()
        thread.join(60)
