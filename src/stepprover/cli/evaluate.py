"""`stepprover eval` (n samples per problem, resumable) and `stepprover report`."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from stepprover.agent.loop import LoopConfig
from stepprover.cli.common import (
    INTERRUPTED,
    BaseUrl,
    LeanApiKey,
    LeanDir,
    LeanUrl,
    MaxContextTokens,
    MaxReplCalls,
    Model,
    ModelBackend,
    PromptStyle,
    Repl,
    Sandbox,
    SketchTimeout,
    Temperature,
    TokenizerPath,
    WarmupTimeout,
    at_least_one_or_exit,
    err,
    fail,
    generator_or_exit,
    lean_setup_for,
    positive_or_exit,
    process_config_or_exit,
    sampling_or_exit,
)
from stepprover.data.problems import (
    DataError,
    Problem,
    bundled_benchmarks,
    file_sha256,
    find_problem,
    lean_version_warning,
    load_benchmark,
)
from stepprover.eval.metrics import mean_pass_at_k, pass1, solve_counts
from stepprover.eval.runner import EvalPlan, evaluate
from stepprover.eval.store import RunConfig, RunConfigMismatch, RunStore
from stepprover.lean.pool import PoolConfig
from stepprover.lean_backend import LeanBackend
from stepprover.models.base import Generator
from stepprover.provers import build_prover


def eval_(
    model: Model,
    benchmark: Annotated[str, typer.Option(
        metavar="NAME", help="Bundled: " + ", ".join(bundled_benchmarks()) + "; or FILE.jsonl[:SPLIT].")
    ] = "minif2f-test",
    samples: Annotated[int, typer.Option(help="Samples per problem.")] = 32,
    run_dir: Annotated[Path | None, typer.Option(help="Where the run is stored (resumable).")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N problems.")] = None,
    problems: Annotated[str | None, typer.Option(help="Comma-separated problem names.")] = None,
    concurrency: Annotated[int, typer.Option(help="Trajectories in flight.")] = 64,
    workers: Annotated[int | None, typer.Option(help="REPL workers (default: by cores and memory).")] = None,
    backend: ModelBackend = "auto",
    base_url: BaseUrl = None,
    tokenizer: TokenizerPath = None,
    max_repl_calls: MaxReplCalls = None,
    max_context_tokens: MaxContextTokens = 20480,
    sketch_timeout: SketchTimeout = 60.0,
    final_timeout: Annotated[float, typer.Option(help="Seconds for the final verification.")] = 300.0,
    warmup_timeout: WarmupTimeout = 300.0,
    temperature: Temperature = None,
    prompt_style: PromptStyle = "stepfun-tir",
    repl: Repl = None,
    lean_url: LeanUrl = None,
    lean_api_key: LeanApiKey = None,
    lean_ray: Annotated[str | None, typer.Option(help="Ray cluster address ('auto') to spread Lean over.")] = None,
    sandbox: Sandbox = False,
    lean_dir: LeanDir = None,
) -> None:
    """Run n samples per problem, resumably; print pass@k over the full problem count.

    Exit status: 0 when the run is complete, 2 for input that cannot be used (one line on stderr says why), 130 if interrupted (the run resumes where it stopped)."""
    at_least_one_or_exit("--samples", samples)
    at_least_one_or_exit("--concurrency", concurrency)
    at_least_one_or_exit("--workers", workers)
    at_least_one_or_exit("--limit", limit)
    for option, seconds in (("--sketch-timeout", sketch_timeout), ("--final-timeout", final_timeout),
                            ("--warmup-timeout", warmup_timeout)):
        positive_or_exit(option, seconds)
    try:
        chosen, path, split = load_benchmark(benchmark)
        if problems:
            names = [n.strip() for n in problems.split(",") if n.strip()]
            chosen = [find_problem(chosen, n) for n in names]
        chosen = chosen[:limit] if limit else chosen
    except (DataError, OSError) as exc:
        fail(exc)
    pool_config = None if lean_url else PoolConfig(
        process=process_config_or_exit(repl, lean_dir, sandbox), workers=workers, warmup_timeout=warmup_timeout)
    warning = lean_version_warning(benchmark, None if repl else lean_setup_for(lean_dir).lean_version)
    if warning:
        err.print(f"[yellow]warning:[/yellow] {warning}")
    loop = LoopConfig(
        max_repl_calls=max_repl_calls, max_context_tokens=max_context_tokens,
        sketch_timeout=sketch_timeout, final_timeout=final_timeout,
        sampling=sampling_or_exit(prompt_style, temperature), prompt_style=prompt_style,
    )  # fmt: skip
    budgets = {k: v for k, v in dataclasses.asdict(loop).items() if k not in ("sampling", "prompt_style")}
    config = RunConfig(
        model=model, prompt_style=loop.prompt_style, samples=samples,
        sampling=dataclasses.asdict(loop.sampling), budgets=budgets,
        lean=f"service: {lean_url}" if lean_url else (f"repl: {repl}" if repl else lean_setup_for(lean_dir).version_label),
        dataset=benchmark, dataset_sha256=file_sha256(path), split=split,
    )  # fmt: skip
    folder = run_dir or Path("runs") / f"{Path(model).name}-{benchmark.replace('/', '_')}-n{samples}"
    try:
        store = RunStore.open(folder, config)
    except RunConfigMismatch as exc:
        fail(exc)
    try:
        store.record_problems([p.name for p in chosen])
        generator = generator_or_exit(model, backend, base_url, tokenizer)
        try:
            asyncio.run(_eval(generator, LeanBackend(pool_config, lean_url, lean_api_key, lean_ray), loop,
                              store, EvalPlan(chosen, samples, concurrency)))
        except KeyboardInterrupt:
            fail(f"interrupted; run the same command again to resume {folder}", code=INTERRUPTED)
        _print_eval_summary(store, chosen, samples, folder)
    finally:
        store.close()


async def _eval(generator: Generator, lean: LeanBackend, loop: LoopConfig,
                store: RunStore, plan: EvalPlan) -> None:
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    from stepprover.cli.progress import SampleRateColumn

    try:
        async with lean.open() as (repl, verifier):
            agent = build_prover(loop.prompt_style, generator, repl, verifier, loop)
            done = store.done()
            total = len(plan.problems) * plan.samples
            solved = sum(r.solved for r in store.results())
            per_problem = {p.name: sum((p.name, i) in done for i in range(plan.samples))
                           for p in plan.problems}
            columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                       TextColumn("{task.completed}/{task.total} samples"), SampleRateColumn(),
                       TimeRemainingColumn())
            with Progress(*columns, console=err) as bar:
                task = bar.add_task("", total=total, completed=len(done))

                def describe() -> str:
                    full = sum(n >= plan.samples for n in per_problem.values())
                    return f"problems {full}/{len(plan.problems)} · solved {solved}"

                def progress(problem: str, ok: bool) -> None:
                    nonlocal solved
                    solved += ok
                    per_problem[problem] += 1
                    bar.update(task, advance=1, description=describe())

                bar.update(task, description=describe())
                await evaluate(agent, repl, store, plan, progress)
    finally:
        await generator.close()


def _print_eval_summary(store: RunStore, problems: list[Problem], samples: int, folder: Path) -> None:
    counts = solve_counts(store.results(), [p.name for p in problems])
    failed = {p: r for p, (ok, r) in store.preflight().items() if not ok}
    console = Console()
    console.print(f"run: {folder}")
    console.print(f"pass@1 (mean of {samples} samples, over all {len(problems)} problems): {pass1(counts)}")
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64, 128) if k <= samples]
    full = [p for p, (n, _) in counts.items() if n >= max(ks)]
    if full:
        line = ", ".join(f"pass@{k} {100 * mean_pass_at_k({p: counts[p] for p in full}, k):.1f}%"
                         for k in ks)
        console.print(f"{line} (over the {len(full)} problems with all samples)")
    console.print(f"outcomes: {store.outcome_counts()}")
    if failed:
        console.print(f"{len(failed)} statements failed pre-flight and count as unsolved: "
                      + ", ".join(sorted(failed)))


def report(
    run: Annotated[Path, typer.Argument(help="A run folder written by `stepprover eval`.")],
    per_problem: Annotated[int, typer.Option(help="Trajectories per problem in the HTML page.")] = 2,
) -> None:
    """Write report.md (tables like the paper's), PNG plots and trajectories.html into RUN."""
    from stepprover.errors import StepproverError
    from stepprover.eval.report import write_report

    try:
        paths = write_report(run, per_problem=per_problem)
    except StepproverError as exc:
        fail(exc)
    for path in paths:
        typer.echo(str(path))
