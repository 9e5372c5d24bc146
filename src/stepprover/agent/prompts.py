"""Prompt styles: how a problem becomes the model's first context.

The default style is StepFun-Prover's tool-integrated format, byte for byte.
Other provers' formats are separate named styles (``stepprover.provers``),
never flags inside the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stepprover.data.problems import Problem
from stepprover.models.base import Tokenizer

SKETCH_OPEN, SKETCH_CLOSE = "<sketch>", "</sketch>"
REPL_OPEN, REPL_CLOSE = "<REPL>", "</REPL>"
THINK_CLOSE = "</think>"

STEPFUN_SYSTEM_PROMPT = (
    "You will be given an unsolved Lean 4 problem. Think carefully and work towards a solution. "
    "At any point, you may use the Lean 4 REPL to check your progress by enclosing your partial "
    "solution between <sketch> and </sketch>. The REPL feedback will be provided between <REPL> "
    "and </REPL>. Continue this process as needed until you arrive at a complete and correct "
    "solution."
)


def stepfun_user_message(problem: Problem) -> str:
    """```` ```lean4 ```` + the whole problem (header + statement ending ``:= by``), stripped."""
    return "```lean4\n" + problem.statement_text.strip() + "\n```"


@dataclass(frozen=True)
class PromptStyle:
    """A named way to turn a problem into chat messages."""

    name: str
    system: str | None
    user: Callable[[Problem], str]
    tool_use: bool
    """Whether the model may send ``<sketch>`` blocks to the REPL."""

    def messages(self, problem: Problem) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, {"role": "user", "content": self.user(problem)}]

    def render(self, tokenizer: Tokenizer, problem: Problem) -> str:
        """The prompt text: the model's own chat template with the generation prompt added."""
        return render_chat(tokenizer, self.messages(problem))


def render_chat(tokenizer: Tokenizer, messages: list[dict[str, str]]) -> str:
    return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))


STEPFUN_TIR = PromptStyle(
    name="stepfun-tir", system=STEPFUN_SYSTEM_PROMPT, user=stepfun_user_message, tool_use=True
)

TIR_STYLES: dict[str, PromptStyle] = {STEPFUN_TIR.name: STEPFUN_TIR}
"""Styles the tool-integrated loop runs; whole-proof baselines live in ``stepprover.provers``."""


def tir_style(name: str) -> PromptStyle:
    try:
        return TIR_STYLES[name]
    except KeyError:
        raise ValueError(
            f"unknown TIR prompt style {name!r}; known: {', '.join(TIR_STYLES)}"
        ) from None


def token_id(tokenizer: Tokenizer, token: str) -> int:
    """The id of a single token, or a clear error if the tokenizer lacks it."""
    ids = tokenizer.encode(token, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(
            f"the tokenizer has no single token {token!r} (it encodes to {ids}); "
            "a StepFun-Prover checkpoint's tokenizer is needed for tool-integrated prompting"
        )
    return int(ids[0])


def stop_token_ids(tokenizer: Tokenizer, *, tool_use: bool = True) -> list[int]:
    """EOS, plus ``</sketch>`` when the model may call the REPL (resolved, never hard-coded)."""
    eos = int(tokenizer.eos_token_id)
    return [eos, token_id(tokenizer, SKETCH_CLOSE)] if tool_use else [eos]
