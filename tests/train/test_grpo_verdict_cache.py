"""GRPO step metrics count the verdict cache: a group that ends in one proof is checked once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from stepprover.agent.loop import LoopConfig
from stepprover.lean.pool import ReplPool
from stepprover.lean.verdict_cache import CachingVerifier, VerdictStore
from stepprover.lean.verify import LeanVerifier, VerifyConfig
from stepprover.models.scripted import ScriptedGenerator
from stepprover.train.bridge import LoopThread
from stepprover.train.grpo import TirRollout
from stepprover.train.metrics import COLUMNS
from stepprover.train.rollout_backends import RolloutSampler
from tests.conftest import standin_pool_config
from tests.train.trivial_problem import ANSWER, PROBLEM, SCRIPT, SKETCH


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


def test_a_group_with_one_final_proof_costs_one_check(
    tokenizer: Any, script_file: Callable[[Any], str], tmp_path: Path, loop_thread: LoopThread
) -> None:
    pool = ReplPool(
        standin_pool_config("--script", script_file(SCRIPT), "--delay", "0.02", workers=2)
    )
    lean = LeanVerifier(pool, VerifyConfig(timeout=5))
    verifier = CachingVerifier(
        lean, VerdictStore.in_dir(tmp_path), setup="test", config=lean.config
    )
    rollout = TirRollout(
        pool,
        verifier,
        loop_thread,
        LoopConfig(),
        max_completion_length=512,
        generator_for=lambda _: RolloutSampler(
            ScriptedGenerator.replaying(tokenizer, [SKETCH, ANSWER])
        ),
    )
    trainer = SimpleNamespace(_metrics={"train": defaultdict(list)})
    try:
        out = rollout([PROBLEM.model_dump_json()] * 4, trainer)
        again = rollout([PROBLEM.model_dump_json()] * 4, trainer)  # the next step: all stored
    finally:
        verifier.close()
        loop_thread.run(pool.close())
    assert out["verified"] == again["verified"] == [True] * 4
    logged = trainer._metrics["train"]
    assert logged["stepprover/verdict_cache_misses"] == [1, 0]
    assert logged["stepprover/verdict_cache_hits"] == [3, 4]
    assert (
        logged["stepprover/lean_seconds_saved"][1] > logged["stepprover/lean_seconds_saved"][0] > 0
    )
    assert {"stepprover/verdict_cache_hits", "stepprover/lean_seconds_saved"} <= set(COLUMNS)


def test_lean_settings_choose_the_verdict_cache(tmp_path: Path) -> None:
    from stepprover.train.config import LeanSettings
    from stepprover.train.run import lean_backend

    assert lean_backend(LeanSettings()).cache is not None  # the installed Lean: on
    assert lean_backend(LeanSettings(cache=False)).cache is None
    assert (
        lean_backend(LeanSettings(repl="python3 standin.py")).cache is None
    )  # a REPL command: off
    chosen = lean_backend(
        LeanSettings(repl="python3 standin.py", cache=True, cache_dir=str(tmp_path))
    ).cache
    assert chosen is not None and chosen.folder == tmp_path and "standin.py" in chosen.setup
    assert (
        lean_backend(LeanSettings(url="http://lean:8000", cache=True)).cache is None
    )  # the service's own
