"""Whole-proof baselines in the same harness: sample, verify, correct (stand-in REPL, not Lean)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stepprover.agent.loop import LoopConfig
from stepprover.agent.trajectory import Finish
from stepprover.data.problems import find_problem, load_minif2f
from stepprover.lean.pool import ReplPool
from stepprover.lean.verify import LeanVerifier, VerifyConfig
from stepprover.models.scripted import ScriptedGenerator
from stepprover.provers import goedel
from stepprover.provers.registry import PROVER_STYLES, build_prover, default_sampling
from stepprover.provers.styles import DEEPSEEK_V2_COT, GOEDEL_V2_SELF_CORRECTION
from stepprover.provers.whole_proof import WholeProofAgent
from tests.conftest import standin_pool_config

PROBLEM = find_problem(load_minif2f("test"), "mathd_algebra_478")
THM = PROBLEM.formal_statement.rstrip()
NAME = PROBLEM.name
TYPE = {"severity": "info", "pos": {"line": -3, "column": 0}, "endPos": None, "data": "@x : ..."}
SCRIPT = [
    ["sorry\n\nset_option pp.all", {"messages": [{**TYPE, "pos": {"line": -2, "column": 0}}]}],
    ["nlinarith [foo]", {"messages": [{"severity": "error", "pos": {"line": 10, "column": 13},
                                        "endPos": {"line": 10, "column": 16},
                                        "data": "unknown identifier 'foo'"}]}],
    ["norm_num [h₁]", {"messages": [TYPE, {**TYPE, "pos": {"line": -2, "column": 0},
                                           "data": f"'{NAME}' depends on axioms: [propext]"}]}],
    ["*", {}],
]
WRONG = f"Plan: substitute.\n```lean4\n{THM}\n  rw [h₁, h₂, h₃]\n  nlinarith [foo]\n```"
RIGHT = f"The lemma foo does not exist.\n```lean4\n{THM}\n  rw [h₁, h₂, h₃]\n  norm_num [h₁]\n```"


async def test_goedel_self_correction_round(tokenizer: Any, script_file: Callable[[Any], str]) -> None:
    async with ReplPool(standin_pool_config("--script", script_file(SCRIPT), workers=2)) as pool:
        agent = WholeProofAgent(ScriptedGenerator(tokenizer, [WRONG, RIGHT]),
                                LeanVerifier(pool, VerifyConfig(timeout=5)), GOEDEL_V2_SELF_CORRECTION)
        traj = await agent.run(PROBLEM)
    assert traj.finish is Finish.ANSWERED and traj.solved, (traj.verdict, traj.error)
    assert [s.kind for s in traj.segments] == ["model", "feedback", "model"]
    feedback = traj.repl_calls[0].feedback
    assert feedback.startswith("The proof (Round 0) is not correct.")
    assert "  nlinarith [<error>foo</error>]\n" in feedback
    # the next prompt is the re-rendered conversation: user, assistant (raw output), user (feedback)
    assert traj.segments[1].text.endswith(feedback + "<｜Assistant｜><think>\n")
    assert traj.prompt_text.startswith("<｜begin▁of▁sentence｜><｜User｜>Complete the following Lean 4 code:")
    assert traj.final_proof is not None and goedel.sorried_statement(PROBLEM)[:40] in traj.final_proof


async def test_single_shot_style_stops_after_one_verification(
    tokenizer: Any, script_file: Callable[[Any], str]
) -> None:
    async with ReplPool(standin_pool_config("--script", script_file(SCRIPT), workers=2)) as pool:
        agent = WholeProofAgent(ScriptedGenerator(tokenizer, [WRONG.replace(THM, THM.split(":= by")[0] + ":= by")]),
                                LeanVerifier(pool, VerifyConfig(timeout=5)), DEEPSEEK_V2_COT)
        traj = await agent.run(PROBLEM)
    assert traj.finish is Finish.ANSWERED and not traj.solved
    assert traj.verdict is not None and traj.verdict.outcome.value == "lean_error"
    assert len(traj.segments) == 1 and not traj.repl_calls


async def test_every_style_builds_and_runs(tokenizer: Any, script_file: Callable[[Any], str]) -> None:
    assert PROVER_STYLES[0] == "stepfun-tir" and len(PROVER_STYLES) == 6
    async with ReplPool(standin_pool_config("--script", script_file(SCRIPT), workers=2)) as pool:
        for style in PROVER_STYLES:
            prover = build_prover(style, ScriptedGenerator.replaying(tokenizer, [RIGHT]), pool,
                                  LeanVerifier(pool), LoopConfig(prompt_style=style,
                                                                 sampling=default_sampling(style)))
            traj = await prover.run(PROBLEM)
            assert traj.finish is not Finish.ERROR, (style, traj.error)
