"""One way to set up a run, for `eval`, `prove` and the training cycle: the settings it
records (and a resume must match), its store, and the Lean backend with its verifier
wrappers (``lean.backend``), so every entry point records and verifies the same way."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from stepprover.agent.loop import LoopConfig
from stepprover.eval.store import RunConfig, RunStore
from stepprover.lean.backend import LeanBackend
from stepprover.lean.toolchain import LeanSetup
from stepprover.lean.verify import RULES_VERSION, SketchRepl
from stepprover.models.base import Generator
from stepprover.provers.registry import Prover, build_prover, correction_tree


def lean_label(*, url: str | None, repl: str | None, lean_dir: Path | None = None) -> str:
    """What a run records as the Lean it verifies with: the service, the REPL command
    line, or the installed Lean/Mathlib/REPL versions."""
    if url:
        return f"service: {url}"
    if repl:
        return f"repl: {repl}"
    return (LeanSetup() if lean_dir is None else LeanSetup(root=lean_dir)).version_label


# The loop settings every run has recorded since run folders were first written.
_FIRST_RECORDED = frozenset(
    {
        "budget_rule",
        "final_timeout",
        "max_context_tokens",
        "max_repl_calls",
        "max_tokens_per_call",
        "resume",
        "sketch_imports",
        "sketch_timeout",
    }
)


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """Everything a run is set up from."""

    model: str
    loop: LoopConfig
    lean: LeanBackend
    lean_label: str
    """See ``lean_label``."""
    samples: int = 1
    dataset: str = ""
    dataset_sha256: str = ""
    split: str | None = None

    def run_config(self) -> RunConfig:
        """What the run records: every loop setting (sampling apart), not a chosen few.
        A setting added since the first stored runs is recorded only when it differs from
        its default, so run folders made before it was added still resume."""
        defaults = LoopConfig()
        budgets = {
            k: v
            for k, v in dataclasses.asdict(self.loop).items()
            if k not in ("sampling", "prompt_style")
            and (k in _FIRST_RECORDED or v != getattr(defaults, k))
        }
        tree = correction_tree(self.loop.prompt_style)
        if tree is not None:  # the correction tree is a budget too (eval/corrections.py)
            budgets["correction_tree"] = tree.as_budget()
        return RunConfig(
            model=self.model, prompt_style=self.loop.prompt_style, samples=self.samples,
            sampling=dataclasses.asdict(self.loop.sampling), budgets=budgets, lean=self.lean_label,
            dataset=self.dataset, dataset_sha256=self.dataset_sha256, split=self.split,
            rules_version=RULES_VERSION,
        )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Run:
    settings: RunSettings
    config: RunConfig
    store: RunStore | None
    """None for a run that is not stored (`prove`)."""

    @contextlib.asynccontextmanager
    async def prover(self, generator: Generator) -> AsyncIterator[tuple[Prover, SketchRepl]]:
        """Start Lean (verifier wrapped, see ``lean.backend``); the prover of the run's
        style and the sketch REPL (for pre-flight). Lean stops on exit."""
        async with self.settings.lean.open() as (repl, verifier):
            loop = self.settings.loop
            yield build_prover(loop.prompt_style, generator, repl, verifier, loop), repl


@contextlib.contextmanager
def open_run(settings: RunSettings, folder: Path | str | None = None) -> Iterator[Run]:
    """Set up a run; with ``folder``, create or reopen its store (closed on exit).

    Raises:
        RunConfigMismatch: ``folder`` holds a run made with other settings (before
            anything is started).
    """
    config = settings.run_config()
    if folder is None:
        yield Run(settings, config, None)
        return
    with RunStore.open(folder, config) as store:
        yield Run(settings, config, store)
