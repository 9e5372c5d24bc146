"""Whole-proof baselines in the same harness: sample, verify, correct (stand-in REPL, not Lean).

The numbers checked here are upstream's: Kimina's fix-turn filters (feedback <= 3000 chars,
re-rendered prompt <= 8192 tokens; project-numina/kimina-prover-rl @ e16b605
recipe/kimina_prover_rl/kimina_prover_rl/dataset.py ``create_one_multiturn_prompt``) and its
24,576-token response budget (kimina_prover_1.7B.sh: 32768 - 8192); Goedel-V2's 40,960-token
budget and correction tree (Goedel-LM/Goedel-Prover-V2 @ 2e9036e scripts/pipeline.sh,
src/utils.py ``load_data_for_correction``).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stepprover.agent.loop import LoopConfig
from stepprover.agent.prompts import render_chat
from stepprover.agent.trajectory import Finish
from stepprover.cli.common import loop_config_or_exit
from stepprover.data.problems import find_problem, load_minif2f
from stepprover.eval.corrections import fold_corrections
from stepprover.eval.runner import EvalPlan, evaluate
from stepprover.eval.store import RunConfig, RunStore
from stepprover.lean.pool import ReplPool
from stepprover.lean.protocol import Message
from stepprover.lean.verify import LeanVerifier, Outcome, Verdict, VerifyConfig
from stepprover.models.base import Generation, SamplingParams
from stepprover.models.scripted import ScriptedGenerator
from stepprover.provers import goedel, kimina
from stepprover.provers.registry import (
    PROVER_STYLES,
    build_prover,
    correction_tree,
    default_sampling,
)
from stepprover.provers.styles import (
    DEEPSEEK_V2_COT,
    GOEDEL_V2,
    GOEDEL_V2_SELF_CORRECTION,
    KIMINA,
    CorrectionTree,
)
from stepprover.provers.whole_proof import WholeProofAgent
from tests.conftest import standin_command, standin_pool_config

PROBLEM = find_problem(load_minif2f("test"), "mathd_algebra_478")
OTHER = find_problem(load_minif2f("test"), "mathd_numbertheory_430")
THM = PROBLEM.formal_statement.rstrip()
NAME = PROBLEM.name
TYPE = {"severity": "info", "pos": {"line": -3, "column": 0}, "endPos": None, "data": "@x : ..."}


def _axioms(name: str) -> dict[str, Any]:
    return {
        "messages": [
            TYPE,
            {
                **TYPE,
                "pos": {"line": -2, "column": 0},
                "data": f"'{name}' depends on axioms: [propext]",
            },
        ]
    }


WRONG = f"Plan: substitute.\n```lean4\n{THM}\n  rw [h₁, h₂, h₃]\n  nlinarith [foo]\n```"
RIGHT = f"The lemma foo does not exist.\n```lean4\n{THM}\n  rw [h₁, h₂, h₃]\n  norm_num [h₁]\n```"
NO_CODE = "I could not find a proof."
SCRIPT = [
    ["sorry\n\nset_option pp.all", {"messages": [{**TYPE, "pos": {"line": -2, "column": 0}}]}],
    # lines from the command's end: the proof's last line (it has no final newline) is 5th
    # from the end (the verifier appends a blank line, the statement check and `#print axioms`)
    [
        "nlinarith [foo]",
        {
            "messages": [
                {
                    "severity": "error",
                    "pos": {"line": -5, "column": 13},
                    "endPos": {"line": -5, "column": 16},
                    "data": "unknown identifier 'foo'",
                }
            ]
        },
    ],
    ["norm_num [h₁]", _axioms(NAME)],
    ["omega_nat_other", _axioms(OTHER.name)],
    [
        "None",
        {
            "messages": [
                {
                    "severity": "error",
                    "pos": {"line": 6, "column": 0},
                    "endPos": {"line": 6, "column": 4},
                    "data": "unexpected identifier; expected command",
                }
            ]
        },
    ],
    ["*", {}],
]


class RecordingGenerator(ScriptedGenerator):
    """Keeps the sampling settings of every call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params: list[SamplingParams] = []
        self.prompts: list[list[int]] = []

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams, stop_token_ids: list[int]
    ) -> Generation:
        self.params.append(params)
        self.prompts.append(list(prompt_ids))
        return await super().generate(prompt_ids, params, stop_token_ids)


class QueueVerifier:
    """Answers with the given verdicts in order, and keeps the code it was given."""

    def __init__(self, *verdicts: Verdict) -> None:
        self.verdicts = list(verdicts)
        self.checked: list[str] = []

    async def check(
        self,
        code: str | bytes,
        *,
        statement: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - see SketchRepl
    ) -> Verdict:
        self.checked.append(str(code))
        return self.verdicts.pop(0)


def _error(line: int, data: str) -> Message:
    return Message.model_validate(
        {
            "severity": "error",
            "pos": {"line": line, "column": 2},
            "endPos": {"line": line, "column": 8},
            "data": data,
        }
    )


def _loop(style: str) -> LoopConfig:
    return loop_config_or_exit(style, None, max_context_tokens=None, final_timeout=None)


async def test_kimina_response_budget_reaches_the_generator(tokenizer: Any) -> None:
    generator = RecordingGenerator(tokenizer, [NO_CODE])
    await WholeProofAgent(generator, QueueVerifier(), KIMINA, _loop("kimina")).run(PROBLEM)
    assert [p.max_tokens for p in generator.params] == [24576]
    assert _loop("kimina").final_timeout == 60 and _loop("kimina").max_context_tokens == 32768
    assert WholeProofAgent(generator, QueueVerifier(), KIMINA).config == _loop("kimina"), (
        "the default"
    )


async def test_goedel_budget_is_40960_tokens_of_context(tokenizer: Any) -> None:
    generator = RecordingGenerator(tokenizer, [NO_CODE])
    traj = await WholeProofAgent(generator, QueueVerifier(), GOEDEL_V2, _loop("goedel-v2")).run(
        PROBLEM
    )
    assert generator.params[0].max_tokens == 40960 - len(traj.prompt_ids)
    assert _loop("goedel-v2").final_timeout == 300


async def test_kimina_sorry_only_attempt_gets_an_empty_fix_turn(tokenizer: Any) -> None:
    sorry = Verdict(outcome=Outcome.SORRY, reason="the proof uses sorry", reply={"messages": []})
    verifier = QueueVerifier(sorry, Verdict(outcome=Outcome.PROVED))
    generator = ScriptedGenerator(tokenizer, [RIGHT, RIGHT])
    traj = await WholeProofAgent(generator, verifier, KIMINA, _loop("kimina")).run(PROBLEM)
    assert [s.kind for s in traj.segments] == ["model", "feedback", "model"] and traj.solved
    assert traj.repl_calls[0].feedback == ""
    assert traj.meta["messages"][-1] == {"role": "user", "content": ""}


async def test_the_fix_turn_prompt_is_the_re_rendered_conversation(tokenizer: Any) -> None:
    """What upstream sends: the chat template over [system, user, assistant, user] re-tokenised."""
    error = Verdict(outcome=Outcome.LEAN_ERROR, reason="x", reply={}, messages=[_error(9, "bad")])
    generator = RecordingGenerator(tokenizer, [RIGHT, RIGHT])
    traj = await WholeProofAgent(
        generator, QueueVerifier(error, Verdict(outcome=Outcome.PROVED)), KIMINA, _loop("kimina")
    ).run(PROBLEM)
    assert len(generator.prompts) == 2 and traj.meta["messages"][-2]["content"] == RIGHT
    expected = render_chat(tokenizer, traj.meta["messages"])
    assert generator.prompts[1] == tokenizer.encode(expected, add_special_tokens=False)


async def test_kimina_timeout_fix_turn_carries_the_servers_text(tokenizer: Any) -> None:
    verifier = QueueVerifier(
        Verdict(outcome=Outcome.TIMEOUT, reason="ours"), Verdict(outcome=Outcome.LEAN_ERROR)
    )
    traj = await WholeProofAgent(
        ScriptedGenerator(tokenizer, [RIGHT, RIGHT]), verifier, KIMINA, _loop("kimina")
    ).run(PROBLEM)
    assert traj.repl_calls[0].feedback == (
        "# System Error:\nError message: \nLean REPL command timed out in 60 seconds\n\n"
    )


async def test_kimina_skips_the_fix_turn_for_feedback_over_3000_chars(tokenizer: Any) -> None:
    code_line = kimina.server_line_offset(PROBLEM.header) + 2
    for size, fixed in ((2800, True), (3000, False)):
        verdict = Verdict(
            outcome=Outcome.LEAN_ERROR,
            reason="x",
            reply={},
            messages=[_error(code_line, "x" * size)],
        )
        verifier = QueueVerifier(verdict, Verdict(outcome=Outcome.LEAN_ERROR))
        traj = await WholeProofAgent(
            ScriptedGenerator(tokenizer, [RIGHT, RIGHT]), verifier, KIMINA, _loop("kimina")
        ).run(PROBLEM)
        assert (len(traj.segments) == 3) is fixed, size
        assert ("correction_skipped" in traj.meta) is not fixed
        if fixed:
            assert len(traj.repl_calls[0].feedback) <= kimina.MAX_FEEDBACK_CHARS


async def test_kimina_skips_the_fix_turn_when_the_new_prompt_passes_8192_tokens(
    tokenizer: Any,
) -> None:
    verdict = Verdict(outcome=Outcome.LEAN_ERROR, reason="x", reply={}, messages=[_error(9, "bad")])
    # (after </think>: a template that drops earlier thinking keeps it in the new prompt)
    repeats = 12000 // len(tokenizer.encode("try again ", add_special_tokens=False))
    long_thinking = "<think>x</think>\n" + "try again " * repeats + RIGHT
    traj = await WholeProofAgent(
        ScriptedGenerator(tokenizer, [long_thinking, RIGHT]),
        QueueVerifier(verdict, verdict),
        KIMINA,
        _loop("kimina"),
    ).run(PROBLEM)
    assert kimina.MAX_PROMPT_TOKENS < len(traj.segments[0].token_ids) < kimina.RESPONSE_TOKENS
    assert traj.verdict is not None, "the first attempt was verified"
    assert len(traj.segments) == 1 and traj.meta["correction_skipped"] == "prompt_too_long"


async def test_kimina_output_without_the_statement_gets_no_fix_turn(tokenizer: Any) -> None:
    verifier = QueueVerifier()
    traj = await WholeProofAgent(
        ScriptedGenerator(tokenizer, [NO_CODE]), verifier, KIMINA, _loop("kimina")
    ).run(PROBLEM)
    assert traj.verdict is None and not verifier.checked and len(traj.segments) == 1


async def test_goedel_verifies_the_filtered_text_and_records_both(tokenizer: Any) -> None:
    output = (
        f"```lean4\n{THM}\n  open Real in\n  set_option maxRecDepth 100 in\n  norm_num [h₁]\n```"
    )
    verifier = QueueVerifier(Verdict(outcome=Outcome.PROVED))
    traj = await WholeProofAgent(
        ScriptedGenerator(tokenizer, [output]), verifier, GOEDEL_V2, _loop("goedel-v2")
    ).run(PROBLEM)
    assert traj.extracted_proof is not None and "  open Real in\n" in traj.extracted_proof
    assert verifier.checked == [traj.final_proof]
    assert traj.final_proof == PROBLEM.header + goedel.compiled_code(traj.extracted_proof)
    assert "open Real in" not in traj.final_proof and traj.final_proof.endswith("\n  norm_num [h₁]")


async def test_goedel_without_corrections_compiles_no_placeholder(
    tokenizer: Any, script_file: Callable[[Any], str]
) -> None:
    async with ReplPool(standin_pool_config("--script", script_file(SCRIPT), workers=1)) as pool:
        agent = WholeProofAgent(
            ScriptedGenerator(tokenizer, [NO_CODE]),
            QueueVerifier(),
            GOEDEL_V2,
            _loop("goedel-v2"),
            pool,
        )
        traj = await agent.run(PROBLEM)
        assert (await pool.health()).served == 0, "nothing was sent to Lean"
    assert traj.extracted_proof == "None" and "placeholder_check" not in traj.meta


async def test_goedel_prompt_over_three_quarters_of_the_context_is_not_generated(
    tokenizer: Any,
) -> None:
    style = dataclasses.replace(GOEDEL_V2, max_prompt_tokens=10)
    generator = ScriptedGenerator(tokenizer, [RIGHT])
    traj = await WholeProofAgent(generator, QueueVerifier(), style, _loop("goedel-v2")).run(PROBLEM)
    assert generator.calls == 0 and traj.finish is Finish.CONTEXT_EXHAUSTED and not traj.segments
    assert goedel.MAX_PROMPT_TOKENS == 30720


def _tree_script(context: str, _: int) -> str:
    if OTHER.name in context:
        return f"```lean4\n{OTHER.formal_statement.rstrip()}\n  omega_nat_other\n```"
    if "The proof (Round 1)" in context:
        return RIGHT
    if "The proof (Round 0)" in context:
        return WRONG
    return NO_CODE


async def test_goedel_correction_tree_in_the_eval_runner(
    tokenizer: Any, script_file: Callable[[Any], str], tmp_path: Path
) -> None:
    """Round 0: no code anywhere for 478 (the compiled "None" earns a correction), the other
    problem solved at once (no corrections). Round 1: 2 children per failed attempt, all wrong
    (Lean errors). Round 2: 2 children each, all right."""
    tree = correction_tree(GOEDEL_V2_SELF_CORRECTION.name)
    assert tree == CorrectionTree(rounds=2, children=2)
    config = RunConfig(
        model="m",
        prompt_style="goedel-v2-self-correction",
        samples=2,
        sampling={},
        budgets={"correction_tree": tree.as_budget()},
        lean="standin",
        dataset="minif2f-test",
        dataset_sha256="x",
    )
    store = RunStore.open(tmp_path / "run", config)
    async with ReplPool(standin_pool_config("--script", script_file(SCRIPT), workers=2)) as pool:
        prover = build_prover(
            "goedel-v2-self-correction",
            ScriptedGenerator(tokenizer, _tree_script),
            pool,
            LeanVerifier(pool, VerifyConfig(timeout=5)),
            _loop("goedel-v2-self-correction"),
        )
        await evaluate(prover, pool, store, EvalPlan([PROBLEM, OTHER], 2, corrections=tree))
    try:
        by_index = {t.sample_index: t for t in store.trajectories(NAME)}
        assert sorted(by_index) == list(range(2 + 4 + 8))
        assert sorted(t.sample_index for t in store.trajectories(OTHER.name)) == [0, 1]
        root = by_index[0]
        assert root.verdict is None and root.extracted_proof == "None"
        assert root.meta["placeholder_check"]["code"] == PROBLEM.header + "None"
        child = by_index[tree.child_index(2, 0, 1)]
        assert child.meta["parent_sample"] == 0 and not child.solved
        assert child.meta["messages"][-1]["content"].startswith(
            "The proof (Round 0) is not correct."
        )
        assert "<error>None</error>" in child.meta["messages"][-1]["content"]
        assert child.meta["messages"][-2] == {"role": "assistant", "content": root.segments[0].text}
        grandchild = by_index[tree.child_index(2, child.sample_index, 0)]
        assert (
            grandchild.solved
            and "nlinarith [<error>foo</error>]" in grandchild.meta["messages"][-1]["content"]
        )
        assert all(by_index[i].solved for i in range(6, 14)) and not any(
            by_index[i].solved for i in range(6)
        )
        folded = fold_corrections(store.results(), 2, tree)
        assert sorted((r.problem, r.sample_index, r.solved) for r in folded) == [
            (NAME, 0, True),
            (NAME, 1, True),
            (OTHER.name, 0, True),
            (OTHER.name, 1, True),
        ]
    finally:
        store.close()


async def test_single_shot_style_stops_after_one_verification(
    tokenizer: Any, script_file: Callable[[Any], str]
) -> None:
    async with ReplPool(standin_pool_config("--script", script_file(SCRIPT), workers=2)) as pool:
        agent = WholeProofAgent(
            ScriptedGenerator(tokenizer, [WRONG]),
            LeanVerifier(pool, VerifyConfig(timeout=5)),
            DEEPSEEK_V2_COT,
        )
        traj = await agent.run(PROBLEM)
    assert traj.finish is Finish.ANSWERED and not traj.solved
    assert traj.verdict is not None and traj.verdict.outcome.value == "lean_error"
    assert len(traj.segments) == 1 and not traj.repl_calls


async def test_every_style_builds_and_runs(
    tokenizer: Any, script_file: Callable[[Any], str]
) -> None:
    assert PROVER_STYLES[0] == "stepfun-tir" and len(PROVER_STYLES) == 6
    async with ReplPool(standin_pool_config("--script", script_file(SCRIPT), workers=2)) as pool:
        for style in PROVER_STYLES:
            prover = build_prover(
                style,
                ScriptedGenerator.replaying(tokenizer, [RIGHT]),
                pool,
                LeanVerifier(pool),
                _loop(style),
            )
            traj = await prover.run(PROBLEM)
            assert traj.finish is not Finish.ERROR, (style, traj.error)
            assert default_sampling(style) == _loop(style).sampling


@pytest.mark.slow
def test_eval_cli_runs_the_correction_tree_and_counts_first_attempts(
    tokenizer: Any, tmp_path: Path, script_file: Callable[[Any], str]
) -> None:
    tok_dir = tmp_path / "tok"
    tokenizer.save_pretrained(tok_dir)
    turns = tmp_path / "turns.json"
    turns.write_text(json.dumps([NO_CODE]))
    run = tmp_path / "run"
    repl = " ".join(standin_command("--script", script_file(SCRIPT)))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stepprover.cli",
            "eval",
            "--model",
            str(turns),
            "--backend",
            "scripted",
            "--tokenizer",
            str(tok_dir),
            "--benchmark",
            "minif2f-test",
            "--problems",
            NAME,
            "--prompt-style",
            "goedel-v2-self-correction",
            "--samples",
            "2",
            "--workers",
            "2",
            "--run-dir",
            str(run),
            "--repl",
            repl,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "n counts the 2 first attempts" in result.stdout
    config = RunStore.read_config(run)
    assert config.budgets["correction_tree"] == {"rounds": 2, "children": 2}
    assert config.budgets["max_context_tokens"] == 40960 and config.budgets["final_timeout"] == 300
    store = RunStore.reopen(run)
    try:
        assert sorted(r.sample_index for r in store.results()) == list(range(14))
    finally:
        store.close()


async def test_goedel_counts_a_proof_with_a_failed_warning_as_unsolved(tokenizer: Any) -> None:
    """Goedel-Prover-V2's compiler (lean_compiler/repl_scheduler.py at 2e9036e): ``complete``
    needs no warning containing "failed"; our checks alone would accept such a proof."""
    from stepprover.lean.protocol import Pos

    warned = Verdict(
        outcome=Outcome.PROVED,
        messages=[
            Message(
                severity="warning",
                pos=Pos(line=3, column=2),
                data="linarith failed to find a contradiction",
            )
        ],
    )
    other = Verdict(
        outcome=Outcome.PROVED,
        messages=[
            Message(severity="warning", pos=Pos(line=3, column=2), data="unused variable `h`")
        ],
    )
    for style, verdict, solved in [
        (GOEDEL_V2, warned, False),
        (GOEDEL_V2, other, True),
        (DEEPSEEK_V2_COT, warned, True),
    ]:
        traj = await WholeProofAgent(
            ScriptedGenerator(tokenizer, [RIGHT]), QueueVerifier(verdict), style, _loop(style.name)
        ).run(PROBLEM)
        assert traj.solved is solved, (style.name, verdict.messages[0].data)
    assert GOEDEL_V2_SELF_CORRECTION.incomplete is not None and KIMINA.incomplete is None
