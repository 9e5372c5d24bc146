"""`stepprover eval` (n samples per problem, resumable) and `stepprover report`."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import ProgressColumn, Task
from rich.text import Text

from stepprover.cli.common import (
    BaseUrl,
    Cache,
    CacheDir,
    FinalTimeout,
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
    ServerPrompt,
    SketchTimeout,
    Temperature,
    TokenizerPath,
    cache_or_none,
    err,
    fail,
    generator_or_exit,
    lean_setup_for,
    loop_config_or_exit,
    process_config_or_exit,
)
from stepprover.cli.gold import (
    Gold,
    GoldTimeout,
    GoldWorkers,
    OnStored,
    gold_checker_or_exit,
    print_gold_summary,
    with_gold,
)
from stepprover.data.problems import (
    Problem,
    file_sha256,
    find_problem,
    lean_version_warning,
    load_benchmark,
)
from stepprover.errors import DataError, RunConfigMismatch
from stepprover.eval.corrections import fold_corrections
from stepprover.eval.metrics import mean_pass_at_k, pass1, solve_counts
from stepprover.eval.runner import EvalPlan, evaluate
from stepprover.eval.session import Run, RunSettings, lean_label, open_run
from stepprover.eval.store import RunStore
from stepprover.lean.backend import LeanBackend
from stepprover.lean.pool import PoolConfig
from stepprover.lean.verify import VerifyConfig
from stepprover.models.base import Generator
from stepprover.provers.registry import correction_tree
from stepprover.provers.styles import CorrectionTree


def eval_(
    model: Model,
    benchmark: Annotated[str, typer.Option(help="minif2f-test, minif2f-valid, or FILE.jsonl[:SPLIT].")] = "minif2f-test",
    samples: Annotated[int, typer.Option(help="Samples per problem.")] = 32,
    run_dir: Annotated[Path | None, typer.Option(help="Where the run is stored (resumable).")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N problems.")] = None,
    problems: Annotated[str | None, typer.Option(help="Comma-separated problem names.")] = None,
    concurrency: Annotated[int, typer.Option(help="Trajectories in flight.")] = 64,
    workers: Annotated[int | None, typer.Option(help="REPL workers (default: by cores and memory).")] = None,
    backend: ModelBackend = "auto",
    base_url: BaseUrl = None,
    server_prompt: ServerPrompt = "auto",
    tokenizer: TokenizerPath = None,
    max_repl_calls: MaxReplCalls = None,
    max_context_tokens: MaxContextTokens = None,
    sketch_timeout: SketchTimeout = 60.0,
    final_timeout: FinalTimeout = None,
    temperature: Temperature = None,
    prompt_style: PromptStyle = "stepfun-tir",
    reference: Reference = False,
    repl: Repl = None,
    lean_url: LeanUrl = None,
    lean_api_key: LeanApiKey = None,
    lean_ray: Annotated[str | None, typer.Option(help="Ray cluster address ('auto') to spread Lean over.")] = None,
    sandbox: Sandbox = False,
    lean_dir: LeanDir = None,
    cache: Cache = None,
    cache_dir: CacheDir = None,
    gold: Gold = False,
    gold_timeout: GoldTimeout = 1800.0,
    gold_workers: GoldWorkers = 1,
) -> None:
    """Run n samples per problem, resumably; print pass@k over the full problem count."""
    try:
        chosen, path, split = load_benchmark(benchmark)
        if problems:
            names = [n.strip() for n in problems.split(",") if n.strip()]
            chosen = [find_problem(chosen, n) for n in names]
        chosen = chosen[:limit] if limit else chosen
    except (DataError, OSError) as exc:
        fail(exc)
    checker = (
        gold_checker_or_exit(lean_dir, VerifyConfig(), gold_timeout, gold_workers) if gold else None
    )
    pool_config = None if lean_url else PoolConfig(process=process_config_or_exit(repl, lean_dir, sandbox), workers=workers)
    warning = lean_version_warning(benchmark, None if repl else lean_setup_for(lean_dir).lean_version)
    if warning:
        err.print(f"[yellow]warning:[/yellow] {warning}")
    loop = loop_config_or_exit(
        prompt_style, temperature, max_context_tokens=max_context_tokens, final_timeout=final_timeout,
        reference=reference, max_repl_calls=max_repl_calls, sketch_timeout=sketch_timeout,
    )  # fmt: skip
    settings = RunSettings(
        model=model, loop=loop, lean=LeanBackend(pool_config, lean_url, lean_api_key, lean_ray,
                                                 cache_or_none(cache, cache_dir, repl, lean_dir, lean_url)),
        lean_label=lean_label(url=lean_url, repl=repl, lean_dir=lean_dir), samples=samples,
        dataset=benchmark, dataset_sha256=file_sha256(path), split=split,
    )  # fmt: skip
    folder = run_dir or Path("runs") / f"{Path(model).name}-{benchmark.replace('/', '_')}-n{samples}"
    with contextlib.ExitStack() as stack:
        try:
            run = stack.enter_context(open_run(settings, folder))
        except RunConfigMismatch as exc:
            fail(exc)
        assert run.store is not None
        run.store.record_problems([p.name for p in chosen])
        generator = generator_or_exit(model, backend, base_url, tokenizer, server_prompt)
        tree = correction_tree(prompt_style)
        plan = EvalPlan(chosen, samples, concurrency, corrections=tree)
        asyncio.run(with_gold(checker, run.store, chosen,
                              lambda stored: _eval(generator, run, run.store, plan, stored)))
        _print_eval_summary(run.store, chosen, samples, folder, tree)


class SampleRate(ProgressColumn):
    """Samples finished per second, or per minute when slower (a 7B model's usual pace)."""

    def render(self, task: Task) -> Text:
        speed = task.speed
        if not speed:
            return Text("– samples/min")
        if speed >= 1:
            return Text(f"{speed:.1f} samples/s")
        return Text(f"{speed * 60:.1f} samples/min")


async def _eval(generator: Generator, run: Run, store: RunStore, plan: EvalPlan,
                stored: OnStored = None) -> None:
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    try:
        async with run.prover(generator) as (agent, repl):
            done = store.done()
            # A correction tree adds samples as it goes: the bar's total grows with them.
            total = max(len(plan.problems) * plan.samples, len(done))
            completed = len(done)
            solved = sum(r.solved for r in store.results())
            per_problem = {p.name: sum((p.name, i) in done for i in range(plan.samples))
                           for p in plan.problems}
            columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                       TextColumn("{task.completed}/{task.total} samples ·"), SampleRate(),
                       TimeRemainingColumn())
            with Progress(*columns, console=err) as bar:
                task = bar.add_task("", total=total, completed=completed)

                def describe() -> str:
                    full = sum(n >= plan.samples for n in per_problem.values())
                    return f"problems {full}/{len(plan.problems)} · solved {solved}"

                def progress(problem: str, ok: bool) -> None:
                    nonlocal solved, completed, total
                    solved += ok
                    completed += 1
                    total = max(total, completed)
                    per_problem[problem] += 1
                    bar.update(task, total=total, completed=completed, description=describe())

                bar.update(task, description=describe())
                await evaluate(agent, repl, store, plan, progress, stored)
    finally:
        await generator.close()


def _print_eval_summary(store: RunStore, problems: list[Problem], samples: int, folder: Path,
                        tree: CorrectionTree | None) -> None:
    counts = solve_counts(fold_corrections(store.results(), samples, tree), [p.name for p in problems])
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
    if tree is not None:
        console.print(f"n counts the {samples} first attempts; each counts as solved when it or one of "
                      f"its corrections (up to {tree.rounds} rounds, {tree.children} per failed attempt) is")
    console.print(f"outcomes: {store.outcome_counts()}")
    console.print(store.final_checks().line())
    print_gold_summary(folder, store, [p.name for p in problems], console)
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
