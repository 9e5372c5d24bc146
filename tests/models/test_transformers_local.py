"""The loop end to end with a tiny Qwen2 model (built here, random weights) and the stand-in
REPL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stepprover.agent.loop import LoopConfig, TirAgent
from stepprover.agent.prompts import STEPFUN_TIR
from stepprover.agent.trajectory import Finish
from stepprover.data.problems import Problem
from stepprover.lean.pool import ReplPool
from stepprover.lean.verify import LeanVerifier
from stepprover.models.base import SamplingParams
from stepprover.models.transformers_local import TransformersGenerator
from tests.conftest import standin_pool_config
from tests.fakes.tiny_model import build_model, memorised_model

torch = pytest.importorskip("torch")

PROBLEM = Problem(
    name="t", header="import Mathlib\n\n", formal_statement="theorem t : True := by\n"
)
SKETCH_TURN = "Check.\n<sketch>theorem t : True := by trivial</sketch>"
FEEDBACK = "\n<REPL>\n{}\n</REPL>"
ANSWER_TURN = "\n</think>\n```lean4\ntheorem t : True := by trivial\n```"
AXIOMS = {
    "severity": "info",
    "pos": {"line": -2, "column": 0},
    "endPos": None,
    "data": "'t' does not depend on any axioms",
}
TYPE = {"severity": "info", "pos": {"line": -3, "column": 0}, "endPos": None, "data": "@t : True"}


async def test_random_tiny_model_runs_the_loop_to_a_defined_end(tokenizer: Any) -> None:
    model = build_model(len(tokenizer))
    gen = TransformersGenerator(model, tokenizer)
    async with ReplPool(standin_pool_config(workers=1)) as pool:
        agent = TirAgent(
            gen,
            pool,
            LeanVerifier(pool),
            LoopConfig(
                max_context_tokens=400, max_tokens_per_call=64, sampling=SamplingParams(seed=0)
            ),
        )
        traj = await agent.run(PROBLEM)
    assert traj.finish in set(Finish) - {Finish.ERROR}, traj.error
    assert len(traj.context_ids) == len(traj.loss_mask())
    assert 0 < len(traj.completion_ids) <= 400


async def test_memorised_tiny_model_sketches_reads_feedback_and_proves(
    tokenizer: Any, script_file: Callable[[Any], str]
) -> None:
    prompt = STEPFUN_TIR.render(tokenizer, PROBLEM)
    model = memorised_model(
        tokenizer, prompt + SKETCH_TURN + FEEDBACK + ANSWER_TURN, seed=1, steps=200
    )
    gen = TransformersGenerator(model, tokenizer)
    script = [
        ["sorry\n\nset_option pp.all", {"messages": [{**TYPE, "pos": {"line": -2, "column": 0}}]}],
        ["-- final", {}],
        ["trivial\n\n", {"messages": [TYPE, AXIOMS]}],
        ["*", {}],
    ]
    async with ReplPool(standin_pool_config("--script", script_file(script), workers=1)) as pool:
        sampling = SamplingParams(temperature=0.0, seed=0)
        agent = TirAgent(gen, pool, LeanVerifier(pool), LoopConfig(sampling=sampling))
        traj = await agent.run(PROBLEM)
    assert traj.prompt_text == prompt
    assert [s.kind for s in traj.segments] == ["model", "feedback", "model"], traj.completion_text
    assert traj.repl_calls[0].sketch == "theorem t : True := by trivial"
    assert traj.segments[1].text == FEEDBACK
    assert traj.finish is Finish.ANSWERED and traj.solved, (traj.verdict, traj.completion_text)
