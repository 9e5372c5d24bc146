"""The reference text formats of tool-integrated reasoning (StepFun-Prover demo).

Each function reproduces one step of stepfun-ai/StepFun-Prover-Preview's
demo/interact_with_lean4repl.py and demo/pylean.py; see docs/tir-format.md.
"""

from __future__ import annotations

import json
import re
from typing import Any

from stepprover.agent.prompts import REPL_CLOSE, REPL_OPEN, SKETCH_CLOSE, SKETCH_OPEN, THINK_CLOSE
from stepprover.lean.outcome import CommandOutcome, CommandStatus

_LEAN_BLOCK = re.compile(r"```lean4\n(.*?)```", re.DOTALL)
_IMPORT_LINE = re.compile(r"^\s*import\s+\S.*$\n?", re.MULTILINE)


def extract_sketch(turn_text: str) -> str | None:
    """Text between the first ``<sketch>`` and the first ``</sketch>`` of this turn, as the
    demo slices it; None when the turn has no ``<sketch>`` (a format error)."""
    if SKETCH_OPEN not in turn_text:
        return None
    start = turn_text.find(SKETCH_OPEN) + len(SKETCH_OPEN)
    end = turn_text.find(SKETCH_CLOSE)
    return turn_text[start : end if end >= 0 else len(turn_text)]


def clean_sketch(sketch: str) -> str:
    """The demo's cleanup: drop the substring ``import Mathlib`` (only that) and strip.
    Env 0 already holds Mathlib; positions in the feedback refer to this text."""
    return sketch.replace("import Mathlib", "").strip()


def wrap_feedback(text: str) -> str:
    return f"\n{REPL_OPEN}\n{text}\n{REPL_CLOSE}"


def reply_feedback(reply: dict[str, Any]) -> str:
    """The REPL's JSON reply minus ``env``: one line, Python's default separators, Lean's key
    order."""
    return wrap_feedback(
        json.dumps({k: v for k, v in reply.items() if k != "env"}, ensure_ascii=False)
    )


def timeout_feedback(elapsed: float) -> str:
    """The demo's sentence, with the unrounded elapsed seconds."""
    return wrap_feedback(f"repl cannot return status in {elapsed} seconds!")


def crash_feedback(message: str) -> str:
    """``{"repl_err": message}``: the first stderr line, or the memory-limit sentence."""
    return wrap_feedback(json.dumps({"repl_err": message}, ensure_ascii=False))


def sketch_feedback(outcome: CommandOutcome) -> str:
    """What the model reads after a sketch: Lean's reply, the demo's timeout sentence, or
    the crash report (the first stderr line of a REPL that exited, else e.g. the
    memory-limit sentence). An ``infrastructure`` outcome has no feedback: the sample stops."""
    if outcome.status is CommandStatus.OK:
        assert outcome.reply is not None
        return reply_feedback(outcome.reply)
    if outcome.status is CommandStatus.TIMEOUT:
        return timeout_feedback(outcome.elapsed)
    if outcome.status is CommandStatus.CRASH:
        return crash_feedback(outcome.first_stderr_line if outcome.exited else outcome.error)
    raise ValueError(f"no feedback for an {outcome.status} outcome: {outcome.error}")


def extract_final_proof(completion: str) -> str | None:
    """The last ```` ```lean4 ```` block after the last ``</think>``, import lines removed."""
    end_think = completion.rfind(THINK_CLOSE)
    if end_think < 0:
        return None
    blocks = _LEAN_BLOCK.findall(completion[end_think + len(THINK_CLOSE) :])
    if not blocks:
        return None
    return _IMPORT_LINE.sub("", blocks[-1])
