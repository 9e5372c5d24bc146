"""One short call to the model backend before a run starts, made the way the run makes
its calls (the prover's own prompt for the first problem, its sampling settings and stop
ids), so that a server that cannot serve the run (a 4xx on every call, an answer that is
not a completion, a mode it does not support) is one line naming its own error, not a
run whose every sample fails."""

from __future__ import annotations

from stepprover.agent.loop import LoopConfig
from stepprover.data.problems import Problem
from stepprover.errors import ModelBackendUnavailable
from stepprover.lean.outcome import CommandOutcome
from stepprover.lean.verify import Verdict
from stepprover.models.base import Generation, Generator, SamplingParams
from stepprover.provers.registry import build_prover

FIRST_CALL_TOKENS = 8
"""New tokens the first call may generate: enough for the server to validate and answer
the run's request, short enough on a CPU (a server that refuses only long requests, such
as one whose context is too short for the run's budget, is met by the run itself: each
of those samples is retryable, with the server's error)."""


def _probed() -> ModelBackendUnavailable:
    """What ends the probe's trajectory after its first call (the prover records it, as any
    outage, and the probe reads only what the first call did)."""
    return ModelBackendUnavailable("the call before the run", "made; the trajectory ends here")


class _FirstCallOnly:
    """Passes the first call on (capped at ``FIRST_CALL_TOKENS``) and records how it went;
    any later call ends the trajectory."""

    def __init__(self, inner: Generator) -> None:
        self.inner = inner
        self.tokenizer = inner.tokenizer
        self.called = False
        self.error: str | None = None

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams, stop_token_ids: list[int]
    ) -> Generation:
        if self.called:
            raise _probed()
        self.called = True
        short = params.with_max_tokens(min(params.max_tokens, FIRST_CALL_TOKENS))
        try:
            await self.inner.generate(prompt_ids, short, stop_token_ids)
        except Exception as exc:  # whatever it was, the run cannot be served
            self.error = str(exc) or type(exc).__name__
        raise _probed()

    async def close(self) -> None:
        return None


class _NoLean:
    """The probe never reaches Lean: its trajectory ends at the first call."""

    async def run_command(
        self,
        imports: str,
        command: str,
        timeout: float,  # noqa: ASYNC109 - the SketchRepl interface
    ) -> CommandOutcome:
        raise _probed()

    async def check(
        self,
        code: str | bytes,
        *,
        statement: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the Verifier interface
    ) -> Verdict:
        raise _probed()


async def first_call_error(generator: Generator, loop: LoopConfig, problem: Problem) -> str | None:
    """Why ``generator`` cannot serve a run of ``loop`` on ``problem``'s prompt, or None
    when its first call was answered (or the prover made none: a prompt over its limit)."""
    probe = _FirstCallOnly(generator)
    prover = build_prover(loop.prompt_style, probe, _NoLean(), _NoLean(), loop)
    await prover.run(problem)
    return probe.error
