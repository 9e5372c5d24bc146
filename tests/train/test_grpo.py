"""Tool-integrated GRPO on CPU: a tiny Qwen2, the stand-in REPL (not Lean), TRL's GRPOTrainer."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stepprover.agent.loop import LoopConfig
from stepprover.agent.prompts import STEPFUN_TIR
from stepprover.lean.pool import ReplPool
from stepprover.lean.verify import LeanVerifier, VerifyConfig
from stepprover.models.base import SamplingParams
from stepprover.train.bridge import LoopThread
from stepprover.train.grpo import TirRollout, curriculum, verified_reward
from stepprover.train.rollout_backends import RolloutSampler
from tests.conftest import standin_pool_config
from tests.fakes.tiny_model import build_model, memorised_model
from tests.train.trivial_problem import ANSWER, PROBLEM, SCRIPT, SKETCH

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.mark.slow
def test_two_grpo_steps_with_masked_repl_tokens(
    tokenizer: Any, script_file: Callable[[Any], str], tmp_path: Path, loop_thread: LoopThread
) -> None:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    text = STEPFUN_TIR.render(tokenizer, PROBLEM) + SKETCH + "\n<REPL>\n{}\n</REPL>" + ANSWER
    model = memorised_model(tokenizer, text, seed=3)
    torch.manual_seed(0)  # reproducible sampling in the rollouts
    pool = ReplPool(standin_pool_config("--script", script_file(SCRIPT), workers=2))
    seen_weights: list[Any] = []

    def snapshot(trainer: Any) -> None:
        seen_weights.append({k: v.detach().clone() for k, v in trainer.model.state_dict().items()})

    rollout = TirRollout(
        pool,
        LeanVerifier(pool, VerifyConfig(timeout=5)),
        loop_thread,
        LoopConfig(max_context_tokens=600, sampling=SamplingParams(temperature=0.7)),
        max_completion_length=256,
        log_path=tmp_path / "rollouts.jsonl",
        before_rollout=snapshot,
    )
    after_step: list[Any] = []

    class AfterStep(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            after_step.append(
                {k: v.detach().clone() for k, v in kwargs["model"].state_dict().items()}
            )

    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=256,
        max_steps=2,
        learning_rate=1e-3,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        bf16=False,
        save_strategy="no",
        beta=0.0,
    )
    dataset = Dataset.from_list([{"prompt": PROBLEM.model_dump_json()}] * 2)
    trainer = GRPOTrainer(
        model=model,
        processing_class=tokenizer,
        reward_funcs=[verified_reward],
        args=args,
        train_dataset=dataset,
        rollout_func=rollout,
        callbacks=[AfterStep()],
    )
    try:
        trainer.train()
    finally:
        loop_thread.run(pool.close())
    logs = [h for h in trainer.state.log_history if "reward" in h]
    assert len(logs) == 2 and all("stepprover/repl_calls" in h for h in logs)
    assert max(h["reward"] for h in logs) > 0, "some rollouts verified"
    rows = [json.loads(line) for line in (tmp_path / "rollouts.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all(r["reason"] or r["reward"] == 1.0 for r in rows)
    # the second rollout sampled with exactly the weights the first step produced
    assert len(seen_weights) == 2 and len(after_step) >= 1
    assert all(torch.equal(seen_weights[1][k], after_step[0][k]) for k in seen_weights[1])
    changed = any(not torch.equal(seen_weights[0][k], seen_weights[1][k]) for k in seen_weights[0])
    assert changed == (logs[0]["reward_std"] > 0), "a step moves the weights iff rewards differed"


@pytest.mark.slow
def test_two_grpo_steps_with_colocated_vllm_standin(
    tokenizer: Any, script_file: Callable[[Any], str], tmp_path: Path, loop_thread: LoopThread
) -> None:
    """TRL's vLLM path: weights pushed before each rollout, turns sampled on the trainer's
    thread in batches, and sampled logprobs aligned so that TRL's importance ratio is 1."""
    import threading

    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from stepprover.train.rollout_backends import rollout_generator
    from tests.fakes.standin_vllm import StandinVllmGeneration

    text = STEPFUN_TIR.render(tokenizer, PROBLEM) + SKETCH + "\n<REPL>\n{}\n</REPL>" + ANSWER
    model = memorised_model(tokenizer, text, seed=3)
    torch.manual_seed(0)
    pool = ReplPool(standin_pool_config("--script", script_file(SCRIPT), workers=2))
    in_sync: list[bool] = []

    def check_sync(trainer: Any) -> None:
        pushed = trainer.vllm_generation.llm.model.state_dict()
        in_sync.append(
            all(torch.equal(v, pushed[k]) for k, v in trainer.model.state_dict().items())
        )

    rollout = TirRollout(
        pool,
        LeanVerifier(pool, VerifyConfig(timeout=5)),
        loop_thread,
        LoopConfig(max_context_tokens=600, sampling=SamplingParams(temperature=1.0, top_p=1.0)),
        max_completion_length=256,
        log_path=tmp_path / "rollouts.jsonl",
        before_rollout=check_sync,
        generator_for=lambda trainer: rollout_generator(trainer, sampling_params_type=dict),
    )
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=256,
        max_steps=2,
        learning_rate=1e-3,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        bf16=False,
        save_strategy="no",
        beta=0.0,
        temperature=1.0,
        top_p=1.0,
    )
    dataset = Dataset.from_list([{"prompt": PROBLEM.model_dump_json()}] * 2)
    trainer = GRPOTrainer(
        model=model,
        processing_class=tokenizer,
        reward_funcs=[verified_reward],
        args=args,
        train_dataset=dataset,
        rollout_func=rollout,
    )
    # What GRPOTrainer(use_vllm=True, vllm_mode="colocate") sets up, with the stand-in as its vLLM.
    trainer.use_vllm, trainer.vllm_mode, trainer._last_loaded_step = True, "colocate", -1
    trainer.vllm_generation = StandinVllmGeneration(trainer.model, tokenizer.eos_token_id)
    try:
        trainer.train()
    finally:
        loop_thread.run(pool.close())
    llm = trainer.vllm_generation.llm
    assert trainer.vllm_generation.syncs == 2 and in_sync == [True, True]
    assert llm.threads == {threading.main_thread().ident}, (
        "vLLM is driven from the trainer's thread"
    )
    assert max(llm.batch_sizes) > 1, "turns of concurrent trajectories go to vLLM together"
    logs = [h for h in trainer.state.log_history if "reward" in h]
    assert len(logs) == 2 and max(h["reward"] for h in logs) > 0
    for h in logs:  # our sampled logprobs line up token for token with the policy's (off by one,
        # or feedback tokens counted, the difference would be of order 1, not float noise)
        assert h["sampling/sampling_logp_difference/mean"] < 0.01
        assert h["sampling/sampling_logp_difference/max"] < 0.2


def test_grpo_update_raises_the_rewarded_completion(tokenizer: Any, tmp_path: Path) -> None:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    prompt_ids = tokenizer.encode("Which tactic?", add_special_tokens=False)
    good = [*tokenizer.encode(" norm_num", add_special_tokens=False), tokenizer.eos_token_id]
    bad = [*tokenizer.encode(" linarith", add_special_tokens=False), tokenizer.eos_token_id]
    model = build_model(len(tokenizer), seed=4)

    def logp(sequence: list[int]) -> float:
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prompt_ids + sequence])).logits[0]
        logps = torch.log_softmax(logits[len(prompt_ids) - 1 : -1], dim=-1)
        return float(logps.gather(1, torch.tensor(sequence)[:, None]).sum())

    def rollout(prompts: list[str], trainer: Any) -> dict[str, Any]:
        completions = [good if i % 2 == 0 else bad for i in range(len(prompts))]
        return {
            "prompt_ids": [prompt_ids] * len(prompts),
            "completion_ids": completions,
            "logprobs": None,
            "verified": [c is good for c in completions],
        }

    before = logp(good) - logp(bad)
    args = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=16,
        max_steps=5,
        learning_rate=5e-3,
        report_to="none",
        use_cpu=True,
        bf16=False,
        save_strategy="no",
        beta=0.0,
        logging_steps=1,
    )
    trainer = GRPOTrainer(
        model=model,
        processing_class=tokenizer,
        reward_funcs=[verified_reward],
        args=args,
        train_dataset=Dataset.from_list([{"prompt": "q"}] * 5),
        rollout_func=rollout,
    )
    trainer.train()
    model.eval()
    assert logp(good) - logp(bad) > before + 1.0


def test_curriculum_keeps_problems_neither_always_nor_never_solved() -> None:
    assert curriculum({"a": (4, 0), "b": (4, 2), "c": (4, 4), "d": (0, 0), "e": (8, 1)}) == [
        "b",
        "e",
    ]


def test_outages_get_no_reward_and_do_not_move_their_group(
    tokenizer: Any, script_file: Callable[[Any], str], tmp_path: Path, loop_thread: LoopThread
) -> None:
    """Against the installed TRL: of one group of 4, one trajectory is verified, one answers
    without a proof, and two lose their first generation to an outage (empty completions).
    The outages get reward None: TRL gives them advantage 0 and leaves them out of the
    group's mean and std, so the group's rewards are [1, 0], not [1, 0, 0, 0]."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from stepprover.models.scripted import ScriptedGenerator

    first_turns: list[int] = []

    def script(context: str, _: int) -> str:
        if "\n<REPL>\n" in context:  # after feedback (the system prompt names <REPL> too)
            return ANSWER
        first_turns.append(1)
        k = (len(first_turns) - 1) % 4
        if k in (1, 3):
            raise ConnectionError("inference server unreachable")
        return SKETCH if k == 0 else "\n</think>\nI give up."

    pool = ReplPool(standin_pool_config("--script", script_file(SCRIPT), workers=2))
    rollout = TirRollout(
        pool,
        LeanVerifier(pool, VerifyConfig(timeout=5)),
        loop_thread,
        LoopConfig(max_context_tokens=600),
        max_completion_length=600,
        log_path=tmp_path / "rollouts.jsonl",
        generator_for=lambda trainer: RolloutSampler(ScriptedGenerator(tokenizer, script)),
    )
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=600,
        max_steps=1,
        learning_rate=1e-3,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        bf16=False,
        save_strategy="no",
        beta=0.0,
    )
    trainer = GRPOTrainer(
        model=build_model(len(tokenizer), seed=1),
        processing_class=tokenizer,
        reward_funcs=[verified_reward],
        args=args,
        rollout_func=rollout,
        train_dataset=Dataset.from_list([{"prompt": PROBLEM.model_dump_json()}] * 1),
    )
    scored: list[dict[str, Any]] = []
    score = trainer._generate_and_score_completions

    def capture(inputs: Any) -> Any:
        scored.append(output := score(inputs))
        return output

    trainer._generate_and_score_completions = capture
    try:
        trainer.train()
    finally:
        loop_thread.run(pool.close())
    rows = [json.loads(line) for line in (tmp_path / "rollouts.jsonl").read_text().splitlines()]
    rewards = [r["reward"] for r in rows]
    assert sorted(rewards, key=str) == [0.0, 1.0, None, None]
    assert all("inference server unreachable" in r["reason"] for r in rows if r["reward"] is None)
    advantages = scored[0]["advantages"].tolist()
    for reward, advantage in zip(rewards, advantages, strict=True):
        if reward is None:
            assert advantage == 0.0
        else:  # mean 0.5 over the two judged samples only, so +-0.5/std
            assert (advantage > 0.5) == (reward == 1.0) and abs(abs(advantage) - 0.7071) < 0.01
    log = next(h for h in trainer.state.log_history if "reward" in h)
    assert log["reward"] == pytest.approx(0.5) and log["stepprover/unjudged"] == 2


def test_prompts_that_leave_no_room_are_dropped_and_never_crash_a_rollout(
    tokenizer: Any, script_file: Callable[[Any], str], tmp_path: Path, loop_thread: LoopThread
) -> None:
    from types import SimpleNamespace

    from stepprover.models.scripted import ScriptedGenerator
    from stepprover.train.grpo import fitting_prompts

    long = PROBLEM.model_copy(
        update={"name": "long", "formal_statement": "theorem long : True := by\n" + "-- x\n" * 300}
    )
    prompt_len = len(
        tokenizer.encode(STEPFUN_TIR.render(tokenizer, PROBLEM), add_special_tokens=False)
    )
    kept, dropped = fitting_prompts(
        [PROBLEM, long], tokenizer, LoopConfig(max_context_tokens=prompt_len + 1)
    )
    assert kept == [PROBLEM] and dropped == 1
    assert (
        fitting_prompts([PROBLEM], tokenizer, LoopConfig(max_context_tokens=prompt_len))[1] == 1
    ), "at = over"
    # had one slipped through: an empty completion, reward None, never an IndexError in TRL
    pool = ReplPool(standin_pool_config("--script", script_file(SCRIPT), workers=1))
    rollout = TirRollout(
        pool,
        LeanVerifier(pool),
        loop_thread,
        LoopConfig(max_context_tokens=prompt_len),
        max_completion_length=prompt_len,
        generator_for=lambda trainer: RolloutSampler(
            ScriptedGenerator(tokenizer, [SKETCH, ANSWER])
        ),
    )
    try:
        out = rollout([PROBLEM.model_dump_json()], SimpleNamespace())
    finally:
        loop_thread.run(pool.close())
    assert out["verified"] == [None] and out["completion_ids"] == [[tokenizer.eos_token_id]]
    assert out["env_mask"] == [[0]]


@pytest.mark.parametrize(
    ("finish", "outcome", "model_tokens", "expected"),
    [
        ("answered", "proved", True, True),
        ("answered", "lean_error", True, False),
        ("answered", "timeout", True, False),  # judged: the proof is too slow
        ("answered", None, True, False),  # an answer without a final proof is the model's failure
        ("length", None, True, False),
        (
            "answered",
            "crash",
            True,
            False,
        ),  # Lean crashed on two workers: the proof's own doing, judged
        ("error", None, True, None),  # the backend or verifier failed mid-way
        ("outage", None, True, None),  # the model server or Lean was unreachable
        ("context_exhausted", None, False, None),  # no model token at all
    ],
    ids=lambda v: str(v),
)
def test_reward_none_only_when_nothing_was_judged(
    finish: str, outcome: str | None, model_tokens: bool, expected: bool | None
) -> None:
    from stepprover.agent.trajectory import Finish, Segment, Trajectory
    from stepprover.lean.verify import Outcome, Verdict
    from stepprover.train.grpo import rollout_reward

    segments = [Segment(kind="model", text="x", token_ids=[5])] if model_tokens else []
    verdict = None if outcome is None else Verdict(outcome=Outcome(outcome))
    trajectory = Trajectory(
        problem="p",
        prompt_text="",
        prompt_ids=[1],
        segments=segments,
        finish=Finish(finish),
        verdict=verdict,
    )
    assert rollout_reward(trajectory, truncated=False) is expected
    if expected is True:
        assert rollout_reward(trajectory, truncated=True) is False, "a cut trajectory earns nothing"
