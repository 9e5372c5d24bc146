"""``LoopConfig.reference()`` against the official StepFun-Prover-Preview demo, byte for byte.

Each scenario of tests/data/stepfun-demo-goldens (README there: the demo run over
scripted model turns with vLLM 0.10.0's own tokenisation, stop check and detokenizer,
and the stand-in REPL) is replayed through our loop with the same turns, the same
REPL script and the same tokenizer variant, and must give the demo's context (timing
and memory figures normalised), the same prompts token for token, the same
``max_tokens`` per call, the same sketches and the same way of stopping. The three
scenarios that show demo faults (S5, S6b, S10) must differ exactly where the README's
table of differences says. The REPL is the stand-in (tests/fakes/standin_repl.py), not Lean.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from stepprover.agent.loop import LoopConfig, TirAgent
from stepprover.agent.tir_format import reply_feedback
from stepprover.agent.trajectory import Finish, Trajectory
from stepprover.data.problems import Problem
from stepprover.lean.pool import ReplPool
from stepprover.lean.verify import LeanVerifier, VerifyConfig
from stepprover.models.base import Generation, SamplingParams
from stepprover.models.scripted import ScriptedGenerator
from tests.conftest import DATA, standin_pool_config

GOLDENS = DATA / "stepfun-demo-goldens"
VARIANTS = {"tags_nonspecial": False, "tags_nonspecial_bos": True}
SCENARIOS = sorted(GOLDENS.glob("tags_nonspecial*/*.json"))
SKETCH_TIMEOUT = 10.0  # the demo's is 60 s; only the figure in the sentence depends on it


FEEDBACK = re.compile(r"\n<REPL>\n(.*?)\n</REPL>", re.DOTALL)
ENDINGS = {  # what the demo printed -> how our trajectory ends
    "Finish think and summary, break": {Finish.ANSWERED},
    "Exceed the max_seq_len, break": {Finish.CONTEXT_EXHAUSTED},
    "The response is not stopped normally, break": {Finish.LENGTH, Finish.CONTEXT_EXHAUSTED},
    "Format error, break": {Finish.FORMAT_ERROR},
}


def normalised(text: str) -> str:
    """Timing and memory figures vary run to run (and ours are measured differently)."""
    text = re.sub(
        r"repl cannot return status in [0-9.e+-]+ seconds!",
        "repl cannot return status in T seconds!",
        text,
    )
    return re.sub(r"Memory usage \([0-9.]+MB\)", "Memory usage (M MB)", text)


class RecordingGenerator(ScriptedGenerator):
    """The scripted model of the goldens, recording what each call was given."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[list[int], SamplingParams, list[int]]] = []

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams, stop_token_ids: list[int]
    ) -> Generation:
        self.received.append((list(prompt_ids), params, list(stop_token_ids)))
        return await super().generate(prompt_ids, params, stop_token_ids)


async def replay(
    golden: dict[str, Any], tmp_path: Path, **config: Any
) -> tuple[Trajectory, RecordingGenerator]:
    from tests.fakes.tiny_model import reference_tokenizer

    tokenizer = reference_tokenizer(add_bos=VARIANTS[golden["variant"]])
    script = tmp_path / "repl_script.json"
    script.write_text(json.dumps(golden["repl_script"]), encoding="utf-8")
    memory = golden.get("repl_memory_limit_mb") or 15 * 1024
    generator = RecordingGenerator(tokenizer, golden["model_turns"])
    pool_config = standin_pool_config(
        "--script", str(script), workers=1, process={"max_rss_mb": memory}
    )
    async with ReplPool(pool_config) as pool:
        loop = LoopConfig.reference(sketch_timeout=SKETCH_TIMEOUT, **config)
        agent = TirAgent(generator, pool, LeanVerifier(pool, VerifyConfig(timeout=5)), loop)
        trajectory = await agent.run(Problem(**golden["problem"]))
    assert trajectory.error is None, trajectory.error
    return trajectory, generator


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def scenario_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def context(trajectory: Trajectory) -> str:
    return trajectory.prompt_text + trajectory.completion_text


def check_calls(golden: dict[str, Any], generator: RecordingGenerator, calls: int) -> None:
    """The first ``calls`` model calls: prompt ids as vLLM tokenised them, sampling, stop ids.
    A prompt holding a timing or memory figure is compared as normalised text (its ids
    follow the figure's digits), after checking that it starts as vLLM's does (BOS twice
    when the tokenizer adds one)."""
    demo_calls = golden["demo"]["model_calls"][:calls]
    assert len(generator.received) >= len(demo_calls)
    tokenizer = generator.tokenizer
    for i, (demo, (prompt_ids, params, stop_ids)) in enumerate(
        zip(demo_calls, generator.received, strict=False)
    ):
        if normalised(demo["prompt_text"]) == demo["prompt_text"]:
            assert prompt_ids == demo["prompt_ids"], f"call {i}: prompt ids differ"
        else:
            bos = VARIANTS[golden["variant"]]
            assert prompt_ids[: 1 + bos] == demo["prompt_ids"][: 1 + bos]
            text = tokenizer.decode(prompt_ids[bos:], skip_special_tokens=False)
            assert normalised(text) == normalised(demo["prompt_text"]), f"call {i}: prompt differs"
        expected = demo["params"]
        assert (params.max_tokens, params.temperature, params.top_p, params.top_k, params.seed) == (
            expected["max_tokens"],
            expected["temperature"],
            expected["top_p"],
            expected["top_k"],
            expected["seed"],
        )
        assert stop_ids == expected["stop_token_ids"]


FAULTS = {"S5_error_reply_without_env", "S6b_stderr_flood_then_crash", "S10_late_reply"}


@pytest.mark.parametrize("path", [p for p in SCENARIOS if p.stem not in FAULTS], ids=scenario_id)
async def test_reference_mode_is_the_demo(path: Path, tmp_path: Path) -> None:
    golden = load(path)
    demo = golden["demo"]
    trajectory, generator = await replay(golden, tmp_path)
    assert normalised(context(trajectory)) == normalised(demo["final_context"])
    assert len(generator.received) == len(demo["model_calls"])
    check_calls(golden, generator, len(demo["model_calls"]))
    model = [s for s in trajectory.segments if s.kind == "model"]
    assert [s.token_ids for s in model] == [c["out_ids"] for c in demo["model_calls"]]
    assert [s.text for s in model] == [c["out_text"] for c in demo["model_calls"]]
    assert [s.finish_reason for s in model] == [c["finish_reason"] for c in demo["model_calls"]]
    assert [c.sketch for c in trajectory.repl_calls] == [s["sketch"] for s in demo["sketches"]]
    assert trajectory.finish in ENDINGS[demo["printed"].strip()]


def replaced(demo_context: str, replacements: dict[int, str]) -> str:
    """The demo's context with its i-th ``<REPL>`` block's content replaced."""
    spans = [m.span(1) for m in FEEDBACK.finditer(demo_context)]
    for i in sorted(replacements, reverse=True):
        start, end = spans[i]
        demo_context = demo_context[:start] + replacements[i] + demo_context[end:]
    return demo_context


def script_reply(golden: dict[str, Any], marker: str) -> str:
    reply = next(reply for pattern, reply in golden["repl_script"] if pattern == marker)
    return FEEDBACK.fullmatch(reply_feedback(reply))[1]  # type: ignore[index]


@pytest.mark.parametrize("variant", VARIANTS)
async def test_error_reply_without_env_is_feedback_not_a_crash(
    variant: str, tmp_path: Path
) -> None:
    """Demo fault: a reply without ``env`` raises KeyError and kills the demo after sketch 1.
    Ours feeds the reply back and goes on with the next turn."""
    golden = load(GOLDENS / variant / "S5_error_reply_without_env.json")
    assert "KeyError: 'env'" in golden["demo"]["error"]
    trajectory, generator = await replay(golden, tmp_path)
    expected = (
        golden["demo"]["final_context"]
        + "\n<REPL>\n"
        + script_reply(golden, "-- fid:errmsg")
        + "\n</REPL>"
        + golden["model_turns"][1]
    )
    assert context(trajectory) == expected
    check_calls(golden, generator, 1)
    assert trajectory.finish is Finish.ANSWERED and len(generator.received) == 2


@pytest.mark.parametrize("variant", VARIANTS)
async def test_stderr_flood_does_not_block_the_repl(variant: str, tmp_path: Path) -> None:
    """Demo fault: it never reads stderr, so a REPL writing 100 KB there blocks and the sketch
    times out (then the restarted REPL reports the crash). Ours drains stderr: the sketch
    gets its reply, and the crash reports the first line of the stderr tail it kept."""
    golden = load(GOLDENS / variant / "S6b_stderr_flood_then_crash.json")
    trajectory, generator = await replay(golden, tmp_path)
    assert [c.status for c in trajectory.repl_calls] == ["ok", "crash"]
    crash = FEEDBACK.fullmatch(trajectory.repl_calls[1].feedback)[1]  # type: ignore[index]
    assert crash.startswith('{"repl_err": "') and "standin stderr noise" in crash
    demo = golden["demo"]["final_context"]
    assert "repl cannot return status" in FEEDBACK.findall(demo)[0]
    assert context(trajectory) == replaced(demo, {0: "{}", 1: crash})
    check_calls(golden, generator, 1)  # later prompts hold the differing feedback
    assert trajectory.finish is Finish.ANSWERED


@pytest.mark.parametrize(
    "variant", [v for v in VARIANTS if (GOLDENS / v / "S10_late_reply.json").exists()]
)
async def test_late_reply_never_answers_a_later_sketch(variant: str, tmp_path: Path) -> None:
    """Demo fault: after a timeout the process runs on; its late reply is read by the next
    health check, and every later sketch gets the previous request's answer. Ours kills the
    timed-out worker, so sketch 2 gets its own reply."""
    golden = load(GOLDENS / variant / "S10_late_reply.json")
    trajectory, generator = await replay(golden, tmp_path)
    assert [c.status for c in trajectory.repl_calls] == ["timeout", "ok", "ok"]
    demo = golden["demo"]["final_context"]
    assert FEEDBACK.findall(demo)[1] == "{}", "the demo's sketch 2 got sketch 1's late reply"
    expected = replaced(demo, {1: script_reply(golden, "-- fid:error")})
    assert normalised(context(trajectory)) == normalised(expected)
    check_calls(golden, generator, 2)
    assert trajectory.finish is Finish.ANSWERED


@pytest.mark.parametrize(("override", "scenario"), [
    ({"skip_special_tokens": False}, "tags_nonspecial/S8_special_token_mid_text"),
    ({"prompt_special_tokens": False}, "tags_nonspecial_bos/S1_main"),
    ({"length_before_stop": False}, "tags_nonspecial/S9_sketch_close_is_token_16384"),
    ({"budget_rule": "hard_cap"}, "tags_nonspecial/S4_cross_by_feedback"),
    ({"resume": "token_ids"}, "tags_nonspecial/S8_special_token_mid_text"),
], ids=lambda v: next(iter(v)) if isinstance(v, dict)
   else v.split("/")[1].split("_")[0])  # fmt: skip
async def test_each_reference_setting_is_needed(
    override: dict[str, Any], scenario: str, tmp_path: Path
) -> None:
    """Turning any one setting of the preset back to ours breaks a golden scenario."""
    golden = load(GOLDENS / f"{scenario}.json")
    trajectory, generator = await replay(golden, tmp_path, **override)
    same_calls = [ids for ids, _, _ in generator.received] == [
        c["prompt_ids"] for c in golden["demo"]["model_calls"]
    ]
    assert (
        normalised(context(trajectory)) != normalised(golden["demo"]["final_context"])
        or not same_calls
    )


def test_every_golden_scenario_is_tested() -> None:
    names = {p.stem for p in SCENARIOS}
    assert len(SCENARIOS) == 23 and FAULTS <= names
    assert {p.parent.name for p in SCENARIOS} == set(VARIANTS)


def test_vllm_text_drops_special_tokens_and_an_unfinished_character() -> None:
    from stepprover.models.base import vllm_text
    from tests.fakes.tiny_model import reference_tokenizer

    tokenizer = reference_tokenizer(add_bos=False)
    ids = tokenizer.encode(
        "a<｜begin▁of▁sentence｜>b <sketch>x ≤ y</sketch>", add_special_tokens=False
    )
    assert vllm_text(tokenizer, ids) == "ab <sketch>x ≤ y</sketch>"
    le = tokenizer.encode(" ≤", add_special_tokens=False)
    assert len(le) > 1, "the tiny vocabulary splits this character into bytes"
    cut = tokenizer.encode("x", add_special_tokens=False) + le[:-1]
    assert tokenizer.decode(cut).endswith("\ufffd")  # a plain decode shows the broken character
    assert vllm_text(tokenizer, cut) == "x", "vLLM's incremental detokenizer never emits it"
