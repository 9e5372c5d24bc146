"""`stepprover prove`: one problem, one trajectory, shown as it happened."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from stepprover.agent.display import render_trajectory, summary_line
from stepprover.agent.trajectory import Trajectory
from stepprover.cli.common import (
    OUTAGE,
    BaseUrl,
    Cache,
    CacheDir,
    LeanApiKey,
    LeanDir,
    LeanUrl,
    MaxContextTokens,
    MaxReplCalls,
    Model,
    ModelBackend,
    PromptStyle,
    Reference,
    Repl,
    Sandbox,
    Seed,
    ServerPrompt,
    SketchTimeout,
    Temperature,
    TokenizerPath,
    WarmupTimeout,
    at_least_one_or_exit,
    cache_or_none,
    fail,
    generator_or_exit,
    interrupted,
    loop_config_or_exit,
    model_serves_or_exit,
    pool_config_or_exit,
    positive_or_exit,
    read_text_or_exit,
    repl_starts_or_exit,
    require_lean_and_model,
)
from stepprover.data.problems import Problem, find_problem, load_jsonl, load_minif2f
from stepprover.errors import DataError, LeanUnavailable
from stepprover.eval.session import Run, RunSettings, lean_label, open_run
from stepprover.lean.backend import LeanBackend
from stepprover.models.base import Generator


def _load_problem(problem: Path | None, minif2f: str | None, name: str | None) -> Problem:
    if (problem is None) == (minif2f is None):
        raise DataError("give exactly one of --problem FILE or --minif2f NAME")
    if minif2f is not None:
        return find_problem(load_minif2f("test") + load_minif2f("valid"), minif2f)
    assert problem is not None
    if problem.suffix == ".jsonl":
        problems = load_jsonl(problem)
        if name is None and len(problems) != 1:
            raise DataError(f"{problem} holds {len(problems)} problems: pick one with --name")
        return problems[0] if name is None else find_problem(problems, name)
    return problem_from_lean(read_text_or_exit(problem, "problem"), default_name=problem.stem)


def problem_from_lean(text: str, *, default_name: str) -> Problem:
    """A problem from a Lean file: everything before the first theorem is the header."""
    from stepprover.lean.lexer import Kind, tokenize
    from stepprover.lean.source import THEOREM_KEYWORDS

    tokens = tokenize(text).tokens
    start = next((t for t in tokens if t.kind is Kind.IDENT and t.text in THEOREM_KEYWORDS), None)
    if start is None:
        raise DataError("the Lean file declares no theorem to prove")
    statement = text[start.start :].rstrip()
    statement = statement.removesuffix("sorry").rstrip()
    name_index = tokens.index(start) + 1
    name = tokens[name_index].text if name_index < len(tokens) else default_name
    return Problem(name=name, header=text[: start.start], formal_statement=statement + "\n")


def prove(
    model: Model,
    problem: Annotated[
        Path | None, typer.Option(help="A .lean statement or a JSONL of problems.")
    ] = None,
    minif2f: Annotated[str | None, typer.Option(help="A miniF2F problem name (bundled).")] = None,
    name: Annotated[str | None, typer.Option(help="Which problem of the JSONL.")] = None,
    backend: ModelBackend = "auto",
    base_url: BaseUrl = None,
    server_prompt: ServerPrompt = "auto",
    tokenizer: TokenizerPath = None,
    max_repl_calls: MaxReplCalls = None,
    max_context_tokens: MaxContextTokens = None,
    sketch_timeout: SketchTimeout = 60.0,
    warmup_timeout: WarmupTimeout = 300.0,
    temperature: Temperature = None,
    seed: Seed = None,
    prompt_style: PromptStyle = "stepfun-tir",
    reference: Reference = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the trajectory as JSON.")] = False,
    repl: Repl = None,
    lean_url: LeanUrl = None,
    lean_api_key: LeanApiKey = None,
    sandbox: Sandbox = False,
    lean_dir: LeanDir = None,
    cache: Cache = None,
    cache_dir: CacheDir = None,
) -> None:
    """Prove one problem with tool-integrated reasoning and show the trajectory.

    Exit status: 0 if proved, 1 if not, 2 for input that cannot be used (one line on stderr
    says why), 3 if there is no result: Lean or the model cannot be used here (Lean not set
    up, no REPL starts, the --lean-url service is unreachable or refuses the key, the
    weights, PyTorch or a GPU missing, the model server refuses the first call) or an
    outage cut the proof short; 130 after Ctrl-C, 143 after SIGTERM."""
    positive_or_exit("--sketch-timeout", sketch_timeout)
    positive_or_exit("--warmup-timeout", warmup_timeout)
    at_least_one_or_exit("--max-repl-calls", max_repl_calls)
    at_least_one_or_exit("--max-context-tokens", max_context_tokens)
    try:
        target = _load_problem(problem, minif2f, name)
    except (DataError, OSError) as exc:
        fail(exc)
    require_lean_and_model(
        repl=repl,
        lean_url=lean_url,
        lean_api_key=lean_api_key,
        lean_dir=lean_dir,
        model=model,
        backend=backend,
        base_url=base_url,
        tokenizer=tokenizer,
    )
    pool_config = pool_config_or_exit(lean_url, repl, lean_dir, sandbox, 2, warmup_timeout)
    if pool_config is not None:
        repl_starts_or_exit(pool_config.process, warmup_timeout)
    config = loop_config_or_exit(
        prompt_style, temperature, max_context_tokens=max_context_tokens, final_timeout=None,
        reference=reference, max_repl_calls=max_repl_calls, sketch_timeout=sketch_timeout,
    )  # fmt: skip
    config = dataclasses.replace(config, sampling=dataclasses.replace(config.sampling, seed=seed))
    # Two workers: sketches run under `import Mathlib`, the final proof under the problem's header.
    lean = LeanBackend(
        pool_config,
        lean_url,
        lean_api_key,
        cache=cache_or_none(cache, cache_dir, repl, lean_dir, lean_url),
    )
    settings = RunSettings(
        model=model,
        loop=config,
        lean=lean,
        lean_label=lean_label(url=lean_url, repl=repl, lean_dir=lean_dir),
        dataset=str(problem) if problem else f"minif2f:{minif2f}",
    )
    with asyncio.Runner() as runner:  # one event loop: the backend's connections belong to it
        generator = generator_or_exit(model, backend, base_url, tokenizer, server_prompt)
        model_serves_or_exit(runner, generator, config, target)
        try:
            with open_run(settings) as run:
                trajectory = runner.run(_prove(generator, run, target))
        except LeanUnavailable as exc:  # the service's pre-flight: wrong URL or key, or no REPL
            fail(exc, code=OUTAGE)
        except KeyboardInterrupt:
            interrupted()
    if as_json:
        typer.echo(trajectory.model_dump_json())
    else:
        console = Console(soft_wrap=True)  # Lean lines as written: the terminal wraps them
        console.print(render_trajectory(trajectory))
        console.print(summary_line(trajectory))
    if trajectory.retryable:  # no result: an outage is not "not proved"
        fail(f"no result: an outage cut the proof short ({trajectory.error})", code=OUTAGE)
    if not trajectory.solved:
        raise typer.Exit(1)


async def _prove(generator: Generator, run: Run, problem: Problem) -> Trajectory:
    try:
        async with run.prover(generator) as (prover, _):
            return await prover.run(problem)
    finally:
        await generator.close()
