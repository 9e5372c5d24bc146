"""The options several commands share, and how commands fail."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO, Literal, NoReturn, cast, get_args

import typer
from rich.console import Console

from stepprover.agent.loop import LoopConfig
from stepprover.cli.signals import EXIT_STATUS, stop_line, stop_status
from stepprover.data.problems import Problem
from stepprover.errors import (
    LeanUnavailable,
    ModelUnavailable,
    RemoteError,
    ReplStartError,
    SandboxUnavailable,
)
from stepprover.lean.pool import PoolConfig
from stepprover.lean.process import ProcessConfig, check_executable, probe
from stepprover.lean.sandbox import SandboxConfig
from stepprover.lean.toolchain import LeanSetup, doctor, repl_process
from stepprover.lean.verdict_cache import CacheSettings, cache_settings
from stepprover.models.base import Generator, SamplingParams
from stepprover.models.loader import (
    Backend,
    load_generator,
    model_problems,
    names_a_missing_folder,
)
from stepprover.models.openai_compat import PromptMode
from stepprover.provers.registry import PROVER_STYLES, default_budgets, default_sampling

BACKENDS = get_args(Backend)

err = Console(stderr=True, soft_wrap=True)

LeanUrl = Annotated[
    str | None,
    typer.Option(help="Verification service URL (`stepprover serve`) instead of local REPLs."),
]
LeanApiKey = Annotated[
    str | None, typer.Option(envvar="STEPPROVER_LEAN_API_KEY", help="Bearer token for --lean-url.")
]
Sandbox = Annotated[
    bool,
    typer.Option(
        "--sandbox/--no-sandbox",
        help="Run each REPL under bubblewrap + rlimits, "
        "as user nobody or STEPPROVER_SANDBOX_USER (UID or UID:GID).",
    ),
]
LeanDir = Annotated[
    Path | None,
    typer.Option(help="Where Lean, the REPL and Mathlib live (env STEPPROVER_LEAN_DIR)."),
]
Repl = Annotated[str | None, typer.Option(help="REPL command line instead of the installed Lean.")]
Cache = Annotated[
    bool | None,
    typer.Option(
        "--cache/--no-cache",
        help="Answer a proof checked before from the verdict cache. Default: on, off with --repl.",
    ),
]
CacheDir = Annotated[
    Path | None,
    typer.Option(
        help="Folder of the verdict cache (verdicts.sqlite); default ~/.cache/stepprover."
    ),
]
WarmupTimeout = Annotated[
    float, typer.Option(help="Seconds a new REPL may take for its imports (e.g. import Mathlib).")
]
Model = Annotated[str, typer.Option(help="Local folder or Hugging Face name of the model.")]
ModelBackend = Annotated[str, typer.Option(help=" | ".join(BACKENDS))]
BaseUrl = Annotated[
    str | None, typer.Option(help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
]
ServerPrompt = Annotated[
    str,
    typer.Option(
        help="With --base-url: auto (token ids, text if the server refuses them) | token_ids "
        "| text."
    ),
]
TokenizerPath = Annotated[str | None, typer.Option(help="Tokenizer path if not the model's.")]
MaxReplCalls = Annotated[int | None, typer.Option(help="Cap on REPL interactions.")]
MaxContextTokens = Annotated[
    int | None, typer.Option(help="Context cap in tokens (default: the prover style's own).")
]
FinalTimeout = Annotated[
    float | None,
    typer.Option(help="Seconds for the final verification (default: the style's own)."),
]
SketchTimeout = Annotated[float, typer.Option(help="Seconds per sketch.")]
Temperature = Annotated[float | None, typer.Option(help="Default: the prover style's own.")]
# A Literal makes Typer refuse any other value. The choices are listed below the options
# (STYLES_EPILOG), where the full width keeps the longest name from being cut off.
if TYPE_CHECKING:
    _Style = str
else:
    _Style = Literal[tuple(PROVER_STYLES)]
PromptStyle = Annotated[
    _Style,
    typer.Option(
        metavar="STYLE", help="The prover (prompt and output format); the styles are listed below."
    ),
]
STYLES_EPILOG = "Prompt styles (--prompt-style): " + ", ".join(PROVER_STYLES) + "."
Seed = Annotated[
    int | None, typer.Option(help="Sampling seed, for a repeatable run (default: none).")
]
Reference = Annotated[
    bool, typer.Option("--reference", help="The StepFun-Prover demo's contexts, byte for byte.")
]


BAD_INPUT = 2
"""Exit status for input the command cannot use (1 means "not proved" / "not solved")."""
OUTAGE = 3
"""Exit status when no result exists because something the command needs cannot be used
here: Lean not set up, not starting or unreachable, the model's weights, a GPU or PyTorch
missing, a model server or service refusing or failing (the README's exit-status table)."""
INTERRUPTED = EXIT_STATUS[signal.SIGINT]
"""Exit status after Ctrl-C (128 + SIGINT, as shells report it)."""
TERMINATED = EXIT_STATUS[signal.SIGTERM]
"""Exit status after SIGTERM (128 + SIGTERM)."""


def fail(message: object, *, prefix: str = "", code: int = BAD_INPUT) -> NoReturn:
    """Print the message (taken literally, never as markup) in red on stderr, and exit."""
    text = f"{prefix} {message}" if prefix else str(message)
    err.print(text, style="red", markup=False, highlight=False)
    raise typer.Exit(code)


TEXT_FILE_LIMIT = 1_000_000
"""Bytes read at most from a statement or problem file (the verifier's proof limit)."""


def open_or_exit(path: Path, what: str) -> BinaryIO:
    """``path`` opened for reading (``what`` names it in the one-line error)."""
    if path.is_dir():
        fail(f"{what} {path} is a directory, not a file")
    try:
        return path.open("rb")
    except FileNotFoundError:
        fail(f"{what} {path} does not exist")
    except OSError as exc:
        fail(f"cannot read {what} {path}: {exc.strerror or exc}")


def read_upto_or_exit(path: Path, what: str, limit: int) -> bytes:
    """The bytes of ``path``, but never more than ``limit`` + 1 of them (a longer input, or
    one without end such as /dev/zero, is known by its length: it is not read whole)."""
    with open_or_exit(path, what) as f:
        try:
            return f.read(limit + 1)
        except OSError as exc:
            fail(f"cannot read {what} {path}: {exc.strerror or exc}")


def read_bytes_or_exit(path: Path, what: str, limit: int = TEXT_FILE_LIMIT) -> bytes:
    """The bytes of the file ``path``; over ``limit`` bytes is a one-line error."""
    data = read_upto_or_exit(path, what, limit)
    if len(data) > limit:
        fail(f"{what} {path} is over the {limit}-byte limit")
    return data


def read_text_or_exit(path: Path, what: str, limit: int = TEXT_FILE_LIMIT) -> str:
    """The UTF-8 text of the file ``path``; bad UTF-8 is a one-line error, not a traceback."""
    data = read_bytes_or_exit(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(
            f"{what} {path} is not UTF-8 text"
            f" (byte {exc.start}: {data[exc.start : exc.start + 1]!r})"
        )


def output_folder_or_exit(path: Path | None) -> None:
    """Check before any work is done that ``path`` can be created (its folder exists)."""
    if path is None:
        return
    if path.is_dir():
        fail(f"--output {path} is a directory; give a file name")
    if not path.parent.is_dir():
        fail(f"--output {path}: the folder {path.parent} does not exist")


def interrupted(advice: str = "") -> NoReturn:
    """After Ctrl-C or SIGTERM: one line ("interrupted" or "terminated", then ``advice``) and
    the signal's exit status (``cli.signals``)."""
    fail(stop_line() + advice, code=stop_status())


def require(condition: bool, message: str) -> None:
    """Exit with ``message`` (one line) unless ``condition`` holds: option validation."""
    if not condition:
        fail(message)


def positive_or_exit(option: str, value: float | None) -> None:
    if value is not None:
        require(value > 0, f"{option} must be a positive number, not {value:g}")


def at_least_one_or_exit(option: str, value: int | None) -> None:
    if value is not None:
        require(value >= 1, f"{option} must be at least 1, not {value}")


def lean_setup_for(lean_dir: Path | None, **versions: str | None) -> LeanSetup:
    given = {k: v for k, v in versions.items() if v is not None}
    return LeanSetup(**given) if lean_dir is None else LeanSetup(root=lean_dir, **given)  # type: ignore[arg-type]


USE_REPL = "pass --repl to use another REPL command"


def lean_problems(lean_dir: Path | None, instead: str = USE_REPL) -> list[str]:
    """What `stepprover lean setup` has not installed yet, as one message (or none)."""
    missing = [c.name for c in doctor(lean_setup_for(lean_dir)) if not c.ok]
    if not missing:
        return []
    return [
        "Lean is not set up; missing: "
        + "; ".join(missing)
        + f".\nRun `stepprover lean setup` (needs internet access to GitHub), or {instead}."
    ]


def exit_if_missing(problems: list[str], code: int = OUTAGE) -> None:
    """Print every problem (one message each) and exit 3 (nothing to judge with), if there
    is any."""
    for problem in problems:
        err.print(problem, style="red", markup=False, highlight=False)
    if problems:
        raise typer.Exit(code)


def require_lean(lean_dir: Path | None, instead: str = USE_REPL, code: int = OUTAGE) -> None:
    """Exit 3 naming what is missing unless `stepprover lean setup` has installed Lean."""
    exit_if_missing(lean_problems(lean_dir, instead), code)


def require_lean_and_model(
    *,
    repl: str | None,
    lean_url: str | None,
    lean_api_key: str | None,
    lean_dir: Path | None,
    model: str,
    backend: str,
    base_url: str | None,
    tokenizer: str | None,
) -> None:
    """Before a run starts: exit 3 naming everything missing at once, Lean (unless --repl or
    --lean-url) and the model (weights, GPU, PyTorch); then exit 3 if the --lean-url service
    cannot be used (``service_or_exit``)."""
    problems = [] if repl or lean_url else lean_problems(lean_dir)
    code = OUTAGE
    if backend in BACKENDS:  # an unknown one is generator_or_exit's one line
        problems += [
            f"Model unavailable: {p}"
            for p in model_problems(model, cast(Backend, backend), base_url, tokenizer)
        ]
        if backend != "scripted" and names_a_missing_folder(model, tokenizer):
            code = BAD_INPUT  # a folder given that is not there: the input, not this machine
    exit_if_missing(problems, code)
    if lean_url:
        service_or_exit(lean_url, lean_api_key)


def service_or_exit(url: str, api_key: str | None) -> None:
    """Before a run folder is made: exit 2 for a URL or key that cannot be sent, exit 3
    with one line naming the URL unless the verification service answers, takes the key
    and can start a REPL."""
    import httpx

    from stepprover.lean.remote import RemoteLean

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        fail(f"--lean-url {url!r} is not a URL: {exc}")
    if parsed.scheme not in ("http", "https") or not parsed.host:
        fail(f"--lean-url {url!r}: give the service's http(s)://HOST:PORT")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        fail(f"--lean-url {url!r}: port {parsed.port} is not in 1..65535")
    if api_key is not None and not (api_key.isascii() and api_key.isprintable()):
        fail(
            "--lean-api-key (or STEPPROVER_LEAN_API_KEY) must be printable ASCII"
            ": it is sent in an HTTP header"
        )

    async def probe() -> None:
        remote = RemoteLean(url, api_key=api_key)
        try:
            await remote.preflight()
        finally:
            await remote.close()

    try:
        asyncio.run(probe())
    except (
        LeanUnavailable,
        RemoteError,
    ) as exc:  # RemoteError: it answered, but not as the service
        fail(exc, code=OUTAGE)


def process_config_or_exit(
    repl: str | None, lean_dir: Path | None, sandbox: bool = False
) -> ProcessConfig:
    if not repl:
        require_lean(lean_dir)
    try:
        config = repl_process(repl, lean_dir, sandbox=SandboxConfig() if sandbox else None)
    except SandboxUnavailable as exc:
        fail(exc)
    except ValueError as exc:  # shlex: unbalanced quotes
        fail(f"--repl {repl!r} is not a valid command line: {exc}")
    if repl:
        try:
            check_executable(dataclasses.replace(config, prefix=()))
        except ReplStartError as exc:
            fail(f"--repl: {exc}")
    return config


def pool_config_or_exit(
    lean_url: str | None,
    repl: str | None,
    lean_dir: Path | None,
    sandbox: bool,
    workers: int | None,
    warmup_timeout: float,
) -> PoolConfig | None:
    """The local pool's settings (``process_config_or_exit``), or None when the proofs go to
    the service at ``lean_url``."""
    if lean_url:
        return None
    return PoolConfig(
        process=process_config_or_exit(repl, lean_dir, sandbox),
        workers=workers,
        warmup_timeout=warmup_timeout,
    )


def repl_starts_or_exit(config: ProcessConfig, warmup_timeout: float, code: int = OUTAGE) -> None:
    """Before a run folder is made: exit ``code`` unless the REPL answers a first command (a
    missing file or a path the sandbox hides is then one line, not an outage per sample)."""

    async def probe_saying_why_it_waits() -> None:
        task = asyncio.ensure_future(probe(config, warmup_timeout))
        done, _ = await asyncio.wait({task}, timeout=5)
        if not done:
            err.print(
                f"waiting for the REPL to answer a first command (up to {warmup_timeout:g} s)...",
                markup=False,
                highlight=False,
            )
        await task

    try:
        asyncio.run(probe_saying_why_it_waits())
    except KeyboardInterrupt:
        interrupted()
    except ReplStartError as exc:
        tail = [line for line in exc.stderr_tail.splitlines() if line.strip()][-3:]
        fail(
            "Lean could not be started: "
            + exc.summary
            + "".join(f"\n  stderr: {line}" for line in tail),
            code=code,
        )


def cache_or_none(
    cache: bool | None,
    cache_dir: Path | None,
    repl: str | None,
    lean_dir: Path | None,
    lean_url: str | None = None,
) -> CacheSettings | None:
    """The verdict cache for local or Ray Lean; none with a service (it keeps its own)."""
    if lean_url:
        return None
    try:
        return cache_settings(cache, cache_dir, repl=repl, setup=lean_setup_for(lean_dir))
    except OSError as exc:
        fail(f"verdict cache: {exc}")


def sampling_or_exit(style: str, temperature: float | None) -> SamplingParams:
    if style not in PROVER_STYLES:
        fail(f"unknown prompt style {style!r}; known: {', '.join(PROVER_STYLES)}")
    if temperature is not None:
        require(
            math.isfinite(temperature) and temperature >= 0,
            f"--temperature must be a finite number >= 0 (0: greedy), not {temperature:g}",
        )
    params = default_sampling(style)
    return params if temperature is None else dataclasses.replace(params, temperature=temperature)


def loop_config_or_exit(
    style: str,
    temperature: float | None,
    *,
    max_context_tokens: int | None,
    final_timeout: float | None,
    reference: bool = False,
    **rest: object,
) -> LoopConfig:
    """The loop settings for ``style``: its published sampling and budgets, then the
    options given (the per-call cap is the style's: Kimina's 24,576, Goedel's 40,960).
    ``reference``: the StepFun demo's behaviour (``LoopConfig.reference``)."""
    sampling = sampling_or_exit(style, temperature)
    budgets = default_budgets(style)
    make = LoopConfig.reference if reference else LoopConfig
    return make(
        max_context_tokens=max_context_tokens or budgets.max_context_tokens,
        max_tokens_per_call=budgets.max_tokens_per_call,
        final_timeout=final_timeout or budgets.verify_timeout,
        sampling=sampling,
        prompt_style=style,
        **rest,  # type: ignore[arg-type]
    )


def generator_or_exit(
    model: str,
    backend: str,
    base_url: str | None,
    tokenizer: str | None,
    server_prompt: str = "auto",
) -> Generator:
    try:
        if backend not in BACKENDS:
            raise ModelUnavailable(
                f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}"
            )
        if server_prompt not in get_args(PromptMode):
            raise ModelUnavailable(
                f"unknown --server-prompt {server_prompt!r}; choose one of "
                f"{', '.join(get_args(PromptMode))}"
            )
        return load_generator(
            model,
            backend=cast(Backend, backend),
            base_url=base_url,
            tokenizer=tokenizer,
            server_prompt=cast(PromptMode, server_prompt),
        )
    except ModelUnavailable as exc:
        fail(exc, prefix="Model unavailable:")


def model_serves_or_exit(
    runner: asyncio.Runner, generator: Generator, loop: LoopConfig, problem: Problem
) -> None:
    """Before a run folder is made: one short call made as the run makes them
    (``eval.first_call``); exit 3 with the backend's own error unless it is answered.
    ``runner`` is the event loop the run then uses (a backend's connections belong to one)."""
    from stepprover.eval.first_call import first_call_error

    async def call() -> str | None:
        error = await first_call_error(generator, loop, problem)
        if error is not None:
            await generator.close()
        return error

    try:
        error = runner.run(call())
    except KeyboardInterrupt:
        interrupted()
    if error is not None:
        fail(f"the model backend cannot serve this run: {error}", code=OUTAGE)
