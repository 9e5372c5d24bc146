"""The TIR loop against the stand-in REPL (not Lean), with scripted model output."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from stepprover.agent.loop import LoopConfig, TirAgent
from stepprover.agent.trajectory import Finish, Trajectory, load_jsonl, save_jsonl
from stepprover.data.problems import Problem
from stepprover.lean.pool import ReplPool
from stepprover.lean.verify import LeanVerifier, VerifyConfig
from stepprover.models.base import Generation, SamplingParams
from stepprover.models.scripted import ScriptedGenerator
from tests.conftest import standin_pool_config

HEADER = "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen Real\n\n"
PROBLEM = Problem(
    name="t1", header=HEADER, formal_statement="theorem t1 (x : ℝ) (h : x = 2) : x + x = 4 := by\n"
)
THM = "theorem t1 (x : ℝ) (h : x = 2) : x + x = 4 := by"


def msg(severity: str, line: int, data: str) -> dict[str, Any]:
    return {
        "severity": severity,
        "pos": {"line": line, "column": 2},
        "endPos": {"line": line, "column": 11},
        "data": data,
    }


LINARITH_ERROR = msg(
    "error", 3, "linarith failed to find a contradiction\ncase a\nx : ℝ\nh : x = 2\n⊢ False"
)
TYPE = "@t1 : forall (x : Real), ..."
SCRIPT = [
    ["sorry\n\nset_option pp.all", {"messages": [msg("info", -2, TYPE)]}],
    ["nlinarith_fails", {"messages": [LINARITH_ERROR]}],
    [
        "case_final",
        {
            "messages": [
                msg("info", -3, TYPE),
                msg("info", -2, "'t1' depends on axioms: [propext, Classical.choice, Quot.sound]"),
            ]
        },
    ],
    ["*", {}],
]

T1 = (
    "I will test nlinarith.\n<sketch>\nimport Mathlib\nimport Aesop\n"
    f"{THM}\n  nlinarith -- nlinarith_fails\n</sketch>"
)
T2 = f"Maybe simp loops.\n<sketch>\n{THM}\n  simp -- standin:hang\n</sketch>"
T3 = "<sketch>\n-- standin:crash\n</sketch>"
T4 = f"<sketch>{THM} linarith</sketch>"
T5 = (
    "It works.\n</think>\nThe proof:\n```lean4\nimport Mathlib\n"
    f"{THM}\n  linarith -- case_final\n```"
)


@pytest.fixture
async def pool(script_file: Callable[[Any], str]) -> AsyncIterator[ReplPool]:
    async with ReplPool(standin_pool_config("--script", script_file(SCRIPT), workers=2)) as p:
        yield p


SKETCH_TIMEOUT = 3.0
"""Long enough for an answer on a busy machine; the hanging sketch waits it out."""


def agent(tokenizer: Any, pool: ReplPool, script: Any, **config: Any) -> TirAgent:
    loop = LoopConfig(sketch_timeout=SKETCH_TIMEOUT, **config)
    return TirAgent(
        ScriptedGenerator(tokenizer, script),
        pool,
        LeanVerifier(pool, VerifyConfig(timeout=5)),
        loop,
    )


async def test_golden_context_after_sketches_timeout_and_crash(
    tokenizer: Any, pool: ReplPool
) -> None:
    traj = await agent(tokenizer, pool, [T1, T2, T3, T4, T5]).run(PROBLEM)
    assert traj.finish is Finish.ANSWERED and traj.solved, (traj.finish, traj.error, traj.verdict)
    elapsed = re.fullmatch(
        r"\n<REPL>\nrepl cannot return status in (\S+) seconds!\n</REPL>",
        traj.repl_calls[1].feedback,
    )
    assert elapsed and float(elapsed[1]) >= SKETCH_TIMEOUT
    expected = (
        traj.prompt_text
        + T1
        + '\n<REPL>\n{"messages": [{"severity": "error", "pos": {"line": 3, "column": 2}, '
        '"endPos": {"line": 3, "column": 11}, "data": "linarith failed to find a contradiction'
        '\\ncase a\\nx : ℝ\\nh : x = 2\\n⊢ False"}]}\n</REPL>'
        + T2
        + f"\n<REPL>\nrepl cannot return status in {elapsed[1]} seconds!\n</REPL>"
        + T3
        + '\n<REPL>\n{"repl_err": "standin: crash requested\\n"}\n</REPL>'
        + T4
        + "\n<REPL>\n{}\n</REPL>"
        + T5
    )
    assert traj.prompt_text + traj.completion_text == expected
    ids = traj.context_ids
    assert ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ids[:-1], skip_special_tokens=False) == expected
    # the sketch sent is the reference cleanup: only `import Mathlib` removed, then stripped
    assert traj.repl_calls[0].sketch == f"import Aesop\n{THM}\n  nlinarith -- nlinarith_fails"
    assert [c.status for c in traj.repl_calls] == ["ok", "timeout", "crash", "ok"]
    assert traj.repl_calls[0].reply is not None and "env" in traj.repl_calls[0].reply
    assert traj.final_proof == f"{THM}\n  linarith -- case_final\n"
    assert traj.final_context_tokens == len(ids)


async def test_trajectory_mask_and_round_trip(
    tokenizer: Any, pool: ReplPool, tmp_path: Path
) -> None:
    traj = await agent(tokenizer, pool, [T4, T5]).run(PROBLEM, sample_index=3)
    mask = traj.loss_mask()
    assert len(mask) == len(traj.context_ids)
    assert mask[: len(traj.prompt_ids)] == [0] * len(traj.prompt_ids)
    feedback = traj.segments[1]
    start = len(traj.prompt_ids) + len(traj.segments[0].token_ids)
    assert feedback.kind == "feedback"
    assert mask[start : start + len(feedback.token_ids)] == [0] * len(feedback.token_ids)
    assert sum(mask) == len(traj.segments[0].token_ids) + len(traj.segments[2].token_ids)
    path = tmp_path / "t.jsonl"
    save_jsonl([traj, traj], path)
    loaded = load_jsonl(path)
    assert loaded == [traj, traj] and loaded[0].solved and loaded[0].sample_index == 3
    assert json.loads(path.read_text().splitlines()[0])["verdict"]["outcome"] == "proved"


async def test_repl_call_cap(tokenizer: Any, pool: ReplPool) -> None:
    capped = await agent(tokenizer, pool, [T4, T4, T5], max_repl_calls=1).run(PROBLEM)
    assert capped.finish is Finish.REPL_BUDGET and not capped.solved
    assert len(capped.repl_calls) == 1
    uncapped = await agent(tokenizer, pool, [T4, T4, T5]).run(PROBLEM)
    assert uncapped.solved and len(uncapped.repl_calls) == 2
    zero = await agent(tokenizer, pool, [T5], max_repl_calls=0).run(PROBLEM)
    assert zero.solved, "an answer without sketches fits any cap"


class RecordingGenerator(ScriptedGenerator):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_tokens: list[int] = []
        self.prompt_lengths: list[int] = []

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams, stop_token_ids: list[int]
    ) -> Generation:
        self.max_tokens.append(params.max_tokens)
        self.prompt_lengths.append(len(prompt_ids))
        return await super().generate(prompt_ids, params, stop_token_ids)


async def test_hard_cap_gives_each_call_the_room_left(tokenizer: Any, pool: ReplPool) -> None:
    gen = RecordingGenerator(tokenizer, [T4, T4, T5])
    cap = 2000
    agent_ = TirAgent(gen, pool, LeanVerifier(pool), LoopConfig(max_context_tokens=cap))
    traj = await agent_.run(PROBLEM)
    assert traj.solved
    assert gen.max_tokens == [min(16384, cap - n) for n in gen.prompt_lengths]


async def test_context_exhausted_under_both_rules(tokenizer: Any, pool: ReplPool) -> None:
    long_thought = "think " * 400
    prompt_len = len(
        tokenizer.encode(
            agent(tokenizer, pool, []).style.render(tokenizer, PROBLEM), add_special_tokens=False
        )
    )
    cap = prompt_len + 100
    hard = await agent(tokenizer, pool, [long_thought + T5], max_context_tokens=cap).run(PROBLEM)
    assert hard.finish is Finish.CONTEXT_EXHAUSTED and len(hard.context_ids) == cap
    gen = RecordingGenerator(tokenizer, [long_thought + T5])
    ref = TirAgent(
        gen, pool, LeanVerifier(pool), LoopConfig(max_context_tokens=cap, budget_rule="reference")
    )
    traj = await ref.run(PROBLEM)
    assert gen.max_tokens == [16384]
    assert traj.finish is Finish.CONTEXT_EXHAUSTED and len(traj.context_ids) > cap
    assert traj.verdict is None, "a sketch or answer that crossed the limit is not used"


async def test_per_call_length_limit(tokenizer: Any, pool: ReplPool) -> None:
    traj = await agent(tokenizer, pool, ["think " * 100], max_tokens_per_call=20).run(PROBLEM)
    assert traj.finish is Finish.LENGTH and len(traj.completion_ids) == 20


async def test_text_resume_retokenises_the_context(tokenizer: Any, pool: ReplPool) -> None:
    gen = RecordingGenerator(tokenizer, [T4, T5])
    traj = await TirAgent(gen, pool, LeanVerifier(pool), LoopConfig(resume="text")).run(PROBLEM)
    assert traj.solved
    retokenised = tokenizer.encode(
        traj.prompt_text + traj.segments[0].text + traj.segments[1].text, add_special_tokens=False
    )
    assert gen.prompt_lengths[1] == len(retokenised)


@pytest.mark.parametrize(
    ("turns", "finish", "final"),
    [
        (["I forgot the tag</sketch>"], Finish.FORMAT_ERROR, None),
        (["<sketch>never closed and then EOS"], Finish.ANSWERED, None),
        (["</think>\nno final block at all"], Finish.ANSWERED, None),
        (["<sketch></sketch>", T5], Finish.ANSWERED, f"{THM}\n  linarith -- case_final\n"),
        (
            ["<sketch>" + "-- pad\n" * 150_000 + "</sketch>", T5],
            Finish.ANSWERED,
            f"{THM}\n  linarith -- case_final\n",
        ),
    ],
    ids=["no-open-tag", "never-closed", "no-final-block", "empty-sketch", "1MB-sketch"],
)
async def test_bad_model_output_has_a_defined_outcome(
    tokenizer: Any, pool: ReplPool, turns: list[str], finish: Finish, final: str | None
) -> None:
    budget = 2_000_000  # room for the 1 MB sketch
    traj = await agent(
        tokenizer, pool, turns, max_context_tokens=budget, max_tokens_per_call=budget
    ).run(PROBLEM)
    assert traj.finish is finish, traj.error
    assert traj.final_proof == final
    assert traj.solved == (final is not None)


async def test_backend_failure_is_an_outage_recorded_not_raised(
    tokenizer: Any, pool: ReplPool
) -> None:
    # Any exception of the backend: the model wrote nothing, so the sample has no result.
    traj = await agent(tokenizer, pool, []).run(PROBLEM)  # the script runs dry at once
    assert traj.finish is Finish.OUTAGE and traj.retryable
    assert "model backend ScriptedGenerator: IndexError" in (traj.error or "")


def test_loop_config_validation() -> None:
    with pytest.raises(ValueError):
        LoopConfig(max_context_tokens=0)
    with pytest.raises(ValueError):
        LoopConfig(max_repl_calls=-1)


def test_trajectory_without_segments() -> None:
    traj = Trajectory(problem="p", prompt_text="x", prompt_ids=[1, 2])
    assert traj.loss_mask() == [0, 0] and traj.completion_text == "" and not traj.solved


def test_display_parts_cover_the_completion(tokenizer: Any) -> None:
    from stepprover.agent.display import render_trajectory, trajectory_parts
    from stepprover.agent.trajectory import Segment

    traj = Trajectory(
        problem="p",
        prompt_text="x",
        prompt_ids=[1],
        segments=[
            Segment(kind="model", text=T1, token_ids=[1]),
            Segment(kind="feedback", text="\n<REPL>\n{}\n</REPL>", token_ids=[2]),
            Segment(kind="model", text=T5, token_ids=[3]),
        ],
    )
    parts = trajectory_parts(traj)
    assert "".join(text for _, text in parts) == traj.completion_text
    assert [kind for kind, _ in parts] == ["think", "sketch", "repl", "think", "answer"]
    assert render_trajectory(traj).plain == traj.completion_text
