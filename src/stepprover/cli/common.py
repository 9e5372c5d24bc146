"""The options several commands share, and how commands fail."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, NoReturn, cast, get_args

import typer
from rich.console import Console

from stepprover.errors import ModelUnavailable, SandboxUnavailable
from stepprover.lean.process import ProcessConfig
from stepprover.lean.sandbox import SandboxConfig
from stepprover.lean.toolchain import LeanSetup, doctor, repl_process
from stepprover.models.base import Generator, SamplingParams
from stepprover.models.loader import Backend, load_generator
from stepprover.models.openai_compat import PromptMode
from stepprover.provers.registry import PROVER_STYLES, default_sampling

BACKENDS = get_args(Backend)

err = Console(stderr=True, soft_wrap=True)

LeanUrl = Annotated[
    str | None, typer.Option(help="Verification service URL (`stepprover serve`) instead of local REPLs.")
]
LeanApiKey = Annotated[
    str | None, typer.Option(envvar="STEPPROVER_LEAN_API_KEY", help="Bearer token for --lean-url.")
]
Sandbox = Annotated[
    bool, typer.Option("--sandbox/--no-sandbox", help="Run each REPL under bubblewrap + rlimits.")
]
LeanDir = Annotated[
    Path | None, typer.Option(help="Where Lean, the REPL and Mathlib live (env STEPPROVER_LEAN_DIR).")
]
Repl = Annotated[str | None, typer.Option(help="REPL command line instead of the installed Lean.")]
Model = Annotated[str, typer.Option(help="Local folder or Hugging Face name of the model.")]
ModelBackend = Annotated[str, typer.Option(help=" | ".join(BACKENDS))]
BaseUrl = Annotated[str | None, typer.Option(help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")]
ServerPrompt = Annotated[str, typer.Option(
    help="With --base-url: auto (token ids, text if the server refuses them) | token_ids | text.")]
TokenizerPath = Annotated[str | None, typer.Option(help="Tokenizer path if not the model's.")]
MaxReplCalls = Annotated[int | None, typer.Option(help="Cap on REPL interactions.")]
MaxContextTokens = Annotated[int, typer.Option(help="Context cap in tokens.")]
SketchTimeout = Annotated[float, typer.Option(help="Seconds per sketch.")]
Temperature = Annotated[float | None, typer.Option(help="Default: the prover style's own.")]
PromptStyle = Annotated[str, typer.Option(help="Prover: " + ", ".join(PROVER_STYLES))]
Reference = Annotated[bool, typer.Option(
    "--reference", help="Reproduce the StepFun-Prover demo's contexts byte for byte (LoopConfig.reference()).")]


def fail(message: object, *, prefix: str = "", code: int = 2) -> NoReturn:
    """Print the message (taken literally, never as markup) in red on stderr, and exit."""
    text = f"{prefix} {message}" if prefix else str(message)
    err.print(text, style="red", markup=False, highlight=False)
    raise typer.Exit(code)


def lean_setup_for(lean_dir: Path | None, **versions: str | None) -> LeanSetup:
    given = {k: v for k, v in versions.items() if v is not None}
    return LeanSetup(**given) if lean_dir is None else LeanSetup(root=lean_dir, **given)  # type: ignore[arg-type]


def process_config_or_exit(repl: str | None, lean_dir: Path | None, sandbox: bool = False) -> ProcessConfig:
    if not repl:
        missing = [c.name for c in doctor(lean_setup_for(lean_dir)) if not c.ok]
        if missing:
            err.print(
                "[red]Lean is not set up[/red]; missing: " + "; ".join(missing)
                + ".\nRun `stepprover lean setup` (needs internet access to GitHub), "
                "or pass --repl to use another REPL command."
            )
            raise typer.Exit(2)
    try:
        return repl_process(repl, lean_dir, sandbox=SandboxConfig() if sandbox else None)
    except SandboxUnavailable as exc:
        fail(exc)


def sampling_or_exit(style: str, temperature: float | None) -> SamplingParams:
    if style not in PROVER_STYLES:
        fail(f"unknown prompt style {style!r}; known: {', '.join(PROVER_STYLES)}")
    params = default_sampling(style)
    return params if temperature is None else dataclasses.replace(params, temperature=temperature)


def generator_or_exit(model: str, backend: str, base_url: str | None, tokenizer: str | None,
                      server_prompt: str = "auto") -> Generator:
    try:
        if backend not in BACKENDS:
            raise ModelUnavailable(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        if server_prompt not in get_args(PromptMode):
            raise ModelUnavailable(f"unknown --server-prompt {server_prompt!r}; choose one of "
                                   f"{', '.join(get_args(PromptMode))}")
        return load_generator(model, backend=cast(Backend, backend), base_url=base_url,
                              tokenizer=tokenizer, server_prompt=cast(PromptMode, server_prompt))
    except ModelUnavailable as exc:
        fail(exc, prefix="Model unavailable:")
