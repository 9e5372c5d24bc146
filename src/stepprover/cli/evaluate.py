"""`stepprover eval` (n samples per problem, resumable) and `stepprover report`."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from stepprover.agent.trajectory import Trajectory
from stepprover.cli.common import (
    OUTAGE,
    BaseUrl,
    Cache,
    CacheDir,
    FinalTimeout,
    LeanApiKey,
    LeanDir,
    LeanUrl,
    MaxContextTokens,
    MaxReplCalls,
    ModelBackend,
    PromptStyle,
    Reference,
    Repl,
    Sandbox,
    ServerPrompt,
    SketchTimeout,
    Temperature,
    TokenizerPath,
    WarmupTimeout,
    at_least_one_or_exit,
    cache_or_none,
    err,
    exit_if_missing,
    fail,
    generator_or_exit,
    interrupted,
    lean_problems,
    lean_setup_for,
    loop_config_or_exit,
    model_serves_or_exit,
    pool_config_or_exit,
    positive_or_exit,
    repl_starts_or_exit,
    require_lean_and_model,
    service_or_exit,
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
from stepprover.data.defects import start_line as defects_start_line
from stepprover.data.problems import (
    benchmark_description,
    benchmark_track,
    benchmarks_holding,
    bundled_benchmarks,
    file_sha256,
    find_problem,
    lean_version_refusal,
    lean_version_warning,
    load_benchmark,
)
from stepprover.errors import (
    DataError,
    DiskFull,
    LeanUnavailable,
    RunConfigMismatch,
    RunDamaged,
    RunStopped,
    StepproverError,
)
from stepprover.eval.metrics import mean_pass_at_k
from stepprover.eval.runner import EvalPlan, OutageBreaker, evaluate
from stepprover.eval.session import Run, RunSettings, lean_label, open_run
from stepprover.eval.store import RunConfig, RunStore
from stepprover.eval.summary import result_lines, summarize, summarize_folder
from stepprover.lean.backend import LeanBackend
from stepprover.lean.verify import VerifyConfig
from stepprover.models.base import Generator
from stepprover.provers.registry import correction_tree
from stepprover.provers.styles import CorrectionTree


def eval_(
    model: Annotated[
        str | None,
        typer.Option(help="Local folder or Hugging Face name of the model (not with --rejudge)."),
    ] = None,
    benchmark: Annotated[
        str,
        typer.Option(
            metavar="NAME",
            help="Bundled: " + ", ".join(bundled_benchmarks()) + "; or FILE.jsonl[:SPLIT].",
        ),
    ] = "minif2f-test",
    samples: Annotated[int, typer.Option(help="Samples per problem.")] = 32,
    run_dir: Annotated[
        Path | None, typer.Option(help="Where the run is stored (resumable).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N problems.")] = None,
    problems: Annotated[str | None, typer.Option(help="Comma-separated problem names.")] = None,
    concurrency: Annotated[int, typer.Option(help="Trajectories in flight.")] = 64,
    workers: Annotated[
        int | None, typer.Option(help="REPL workers (default: by cores and memory).")
    ] = None,
    backend: ModelBackend = "auto",
    base_url: BaseUrl = None,
    server_prompt: ServerPrompt = "auto",
    tokenizer: TokenizerPath = None,
    max_repl_calls: MaxReplCalls = None,
    max_context_tokens: MaxContextTokens = None,
    sketch_timeout: SketchTimeout = 60.0,
    final_timeout: FinalTimeout = None,
    warmup_timeout: WarmupTimeout = 300.0,
    temperature: Temperature = None,
    prompt_style: PromptStyle = "stepfun-tir",
    reference: Reference = False,
    repl: Repl = None,
    lean_url: LeanUrl = None,
    lean_api_key: LeanApiKey = None,
    lean_ray: Annotated[
        str | None, typer.Option(help="Ray cluster address ('auto') to spread Lean over.")
    ] = None,
    sandbox: Sandbox = False,
    lean_dir: LeanDir = None,
    lean_version: Annotated[
        str | None,
        typer.Option(
            metavar="VERSION",
            help="Run a bundled benchmark made for another Lean than the one in use: name "
            "its Lean (e.g. v4.27.0 for putnambench-*).",
        ),
    ] = None,
    cache: Cache = None,
    cache_dir: CacheDir = None,
    gold: Gold = False,
    gold_timeout: GoldTimeout = 1800.0,
    gold_workers: GoldWorkers = 1,
    max_outages: Annotated[
        int,
        typer.Option(
            help="Stop after this many samples in a row lost to an unavailable model server or "
            "Lean (since the last result; 0: never)."
        ),
    ] = 8,
    rejudge: Annotated[
        Path | None,
        typer.Option(
            metavar="RUN",
            help="Re-verify the final proofs of the stored run RUN under the current rules into "
            "--run-dir (a new folder; RUN is only read). No model is run.",
        ),
    ] = None,
) -> None:
    """Run n samples per problem, resumably; print pass@k over the full problem count.

    Samples lost to an outage (model server or Lean unavailable after retries) are stored
    as retryable, never as results; rerunning the same command redoes them.

    Exit status: 0 when the run is complete, 2 for input that cannot be used (one line on
    stderr says why), 3 when there is no result yet: Lean or the model backend could not be
    used (no REPL starts, the --lean-url service is unreachable or refuses the key, the
    model server refuses the run's first call), the run stopped after too many outages in
    a row, or it ended with samples retryable or not run (rerun to finish them); 130 after
    Ctrl-C, 143 after SIGTERM (rerun to resume)."""
    if rejudge is not None:
        _rejudge_or_exit(
            rejudge, run_dir, repl=repl, lean_url=lean_url, lean_api_key=lean_api_key,
            lean_ray=lean_ray, sandbox=sandbox, lean_dir=lean_dir, workers=workers,
            warmup_timeout=warmup_timeout, final_timeout=final_timeout,
            cache=cache, cache_dir=cache_dir,
        )  # fmt: skip
        return
    if model is None:
        fail("Missing option '--model' (every run but --rejudge samples a model).")
    at_least_one_or_exit("--samples", samples)
    at_least_one_or_exit("--concurrency", concurrency)
    at_least_one_or_exit("--workers", workers)
    at_least_one_or_exit("--limit", limit)
    at_least_one_or_exit("--max-repl-calls", max_repl_calls)
    at_least_one_or_exit("--max-context-tokens", max_context_tokens)
    if run_dir is not None and run_dir.exists() and not run_dir.is_dir():
        fail(f"--run-dir {run_dir} is a file; give a folder (new, or a run to resume)")
    for option, seconds in (
        ("--sketch-timeout", sketch_timeout),
        ("--final-timeout", final_timeout),
        ("--warmup-timeout", warmup_timeout),
    ):
        positive_or_exit(option, seconds)
    try:
        chosen, path, split = load_benchmark(benchmark)
        if problems:
            names = [n.strip() for n in problems.split(",") if n.strip()]
            known = {p.name for p in chosen}
            if missing := [n for n in names if n not in known]:
                fail(_not_in_benchmark(missing, benchmark, len(chosen)))
            chosen = [find_problem(chosen, n) for n in names]
        chosen = chosen[:limit] if limit else chosen
    except (DataError, OSError) as exc:
        fail(exc)
    lean_in_use = None if repl else lean_setup_for(lean_dir).lean_version
    if refusal := lean_version_refusal(benchmark, lean_in_use, lean_version):
        fail(refusal)
    if gold and benchmark_track(benchmark) == "found":
        # comparator requires every constant the theorem mentions to be the challenge's, the
        # answer definition's value included, so it would refuse every answer the proof found
        fail(f"--gold cannot judge {benchmark}: comparator compares the answer definitions too")
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
    checker = (
        gold_checker_or_exit(lean_dir, VerifyConfig(), gold_timeout, gold_workers) if gold else None
    )
    pool_config = pool_config_or_exit(lean_url, repl, lean_dir, sandbox, workers, warmup_timeout)
    if pool_config is not None and not lean_ray:  # on Ray, Lean runs on the cluster's nodes
        repl_starts_or_exit(pool_config.process, warmup_timeout)
    if described := benchmark_description(benchmark):
        err.print(described, markup=False, highlight=False)
    warning = lean_version_warning(benchmark, lean_in_use)
    if warning:
        err.print(f"[yellow]warning:[/yellow] {warning}")
    loop = loop_config_or_exit(
        prompt_style, temperature, max_context_tokens=max_context_tokens,
        final_timeout=final_timeout, reference=reference, max_repl_calls=max_repl_calls,
        sketch_timeout=sketch_timeout,
    )  # fmt: skip
    settings = RunSettings(
        model=model, loop=loop,
        lean=LeanBackend(pool_config, lean_url, lean_api_key, lean_ray,
                         cache_or_none(cache, cache_dir, repl, lean_dir, lean_url)),
        lean_label=lean_label(url=lean_url, repl=repl, lean_dir=lean_dir), samples=samples,
        dataset=benchmark, dataset_sha256=file_sha256(path), split=split,
    )  # fmt: skip
    folder = (
        run_dir or Path("runs") / f"{Path(model).name}-{benchmark.replace('/', '_')}-n{samples}"
    )
    with contextlib.ExitStack() as stack:
        runner = stack.enter_context(asyncio.Runner())  # the backend's connections live in it
        generator = generator_or_exit(model, backend, base_url, tokenizer, server_prompt)
        if chosen:
            model_serves_or_exit(runner, generator, loop, chosen[0])
        try:
            run = stack.enter_context(open_run(settings, folder))
        except (RunConfigMismatch, RunDamaged, DiskFull) as exc:
            fail(exc)
        store = run.store
        assert store is not None
        if line := defects_start_line(
            benchmark, run.config.dataset_sha256, [p.name for p in chosen]
        ):
            err.print(line, markup=False, highlight=False)
        tree = correction_tree(prompt_style)
        plan = EvalPlan(
            chosen, samples, concurrency, corrections=tree, max_consecutive_outages=max_outages
        )
        store.record_problems([p.name for p in chosen])
        breaker = OutageBreaker(plan.max_consecutive_outages)
        try:
            runner.run(
                with_gold(
                    checker,
                    store,
                    chosen,
                    lambda stored: _eval(generator, run, store, plan, stored, breaker),
                )
            )
        except (RunStopped, LeanUnavailable) as exc:  # LeanUnavailable: the service's pre-flight
            fail(
                f"eval stopped: {exc}. {len(store.done())} finished samples are kept in {folder}; "
                "fix the endpoint and rerun the same command to resume.",
                code=OUTAGE,
            )
        except KeyboardInterrupt:
            interrupted(f"; run the same command again to resume {folder}")
        complete = _print_eval_summary(
            store,
            run.config,
            folder,
            [p.name for p in chosen],
            tree,
            settings.lean.cache is not None or lean_url is not None,
        )
        if not complete and breaker.last is not None:
            # Too few in a row to stop the run, but a rerun only helps once the cause is fixed.
            err.print(
                f"{breaker.total} outages this session; the last: {breaker.last}",
                style="red",
                markup=False,
                highlight=False,
            )
    if not complete:  # samples retryable or not run: no result yet
        raise typer.Exit(OUTAGE)


def _not_in_benchmark(missing: list[str], benchmark: str, size: int) -> str:
    """Which names the benchmark searched lacks, and which bundled benchmarks have them."""
    where = []
    for name in missing:
        holders = benchmarks_holding(name)
        where.append(
            f"{name!r} is in {', '.join(holders)} (pass --benchmark {holders[0]})"
            if holders
            else f"{name!r} is in no bundled benchmark"
        )
    return (
        f"no problem named {', '.join(map(repr, missing))} in --benchmark {benchmark} "
        f"({size} problems); " + "; ".join(where)
    )


def _rejudge_or_exit(
    old_folder: Path,
    run_dir: Path | None,
    *,
    repl: str | None,
    lean_url: str | None,
    lean_api_key: str | None,
    lean_ray: str | None,
    sandbox: bool,
    lean_dir: Path | None,
    workers: int | None,
    warmup_timeout: float,
    final_timeout: float | None,
    cache: bool | None,
    cache_dir: Path | None,
) -> None:
    """``eval --rejudge OLD --run-dir NEW`` (``eval.rejudge``); exits 3 (no result yet) unless
    every sample of OLD that is a result was judged again."""
    from stepprover.eval.rejudge import rejudge, rejudged_config

    if run_dir is None:
        fail("--rejudge needs --run-dir NEW: the re-judged run goes into a new folder")
    if run_dir.resolve() == old_folder.resolve():
        fail("--run-dir must be a new folder: --rejudge leaves the stored run as it is")
    at_least_one_or_exit("--workers", workers)
    positive_or_exit("--warmup-timeout", warmup_timeout)
    positive_or_exit("--final-timeout", final_timeout)
    try:
        old_config = RunStore.read_config(old_folder)
        chosen, path, _ = load_benchmark(old_config.dataset)
    except (StepproverError, OSError) as exc:  # RunNotFound, RunDamaged, DataError
        fail(exc)
    if file_sha256(path) != old_config.dataset_sha256:
        fail(
            f"the dataset {old_config.dataset} changed since {old_folder} was run "
            f"(sha256 {file_sha256(path)[:16]}…, the run has {old_config.dataset_sha256[:16]}…)"
        )
    exit_if_missing([] if repl or lean_url else lean_problems(lean_dir))
    if lean_url:
        service_or_exit(lean_url, lean_api_key)
    pool_config = pool_config_or_exit(lean_url, repl, lean_dir, sandbox, workers, warmup_timeout)
    if pool_config is not None and not lean_ray:
        repl_starts_or_exit(pool_config.process, warmup_timeout)
    backend = LeanBackend(
        pool_config, lean_url, lean_api_key, lean_ray,
        cache_or_none(cache, cache_dir, repl, lean_dir, lean_url),
    )  # fmt: skip
    config = rejudged_config(
        old_config, old_folder, lean_label(url=lean_url, repl=repl, lean_dir=lean_dir)
    )
    timeout = final_timeout or old_config.budgets.get("final_timeout")

    async def run(old: RunStore, new: RunStore) -> Any:
        async with backend.open() as (_, verifier):
            return await rejudge(
                old, new, {p.name: p for p in chosen}, verifier, final_timeout=timeout
            )

    try:
        with RunStore.reopen(old_folder) as old, RunStore.open(run_dir, config) as new:
            result = asyncio.run(run(old, new))
            summary = summarize(new, config)
    except (RunConfigMismatch, RunDamaged, DataError) as exc:
        fail(exc)
    except LeanUnavailable as exc:
        fail(f"rejudge stopped: {exc}; rerun the same command to resume {run_dir}", code=OUTAGE)
    except KeyboardInterrupt:
        interrupted(f"; run the same command again to resume {run_dir}")
    typer.echo(
        f"rejudged {old_folder} into {run_dir}: {result.checked} final proofs verified again, "
        f"{result.copied} samples without a final proof copied, {result.already} already there, "
        f"{result.outages} cut short by an outage (not results, not copied)"
    )
    typer.echo(f"judged under {config.judged_under()} (was: {old_config.judged_under()})")
    typer.echo(
        f"{len(result.changed)} verdicts changed"
        + (": " + ", ".join(result.changed[:20]) if result.changed else "")
    )
    for line in result_lines(summary):
        typer.echo(line)
    if result.outages or not summary.complete:
        raise typer.Exit(OUTAGE)


async def _eval(
    generator: Generator,
    run: Run,
    store: RunStore,
    plan: EvalPlan,
    stored: OnStored = None,
    breaker: OutageBreaker | None = None,
) -> None:
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    from stepprover.cli.progress import SampleRateColumn

    try:
        async with run.prover(generator) as (agent, repl):
            done = store.done()
            # A correction tree adds samples as it goes: the bar's total grows with them.
            total = max(len(plan.problems) * plan.samples, len(done))
            completed = len(done)
            solved, retryable = store.solved_count(), 0
            per_problem = {
                p.name: sum((p.name, i) in done for i in range(plan.samples)) for p in plan.problems
            }
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.completed}/{task.total} samples"),
                SampleRateColumn(),
                TimeRemainingColumn(),
            )
            with Progress(*columns, console=err) as bar:
                task = bar.add_task("", total=total, completed=completed)

                rejected: set[str] = set()  # statements Lean rejected: no samples to run

                def describe() -> str:
                    full = sum(n >= plan.samples or p in rejected for p, n in per_problem.items())
                    lost = f" · retryable {retryable}" if retryable else ""
                    refused = f" · {len(rejected)} rejected by Lean" if rejected else ""
                    return f"problems {full}/{len(plan.problems)} · solved {solved}{lost}{refused}"

                def progress(problem: str, trajectory: Trajectory) -> None:
                    nonlocal solved, retryable, completed, total
                    if trajectory.retryable:
                        retryable += 1
                        bar.update(task, description=describe())
                        return
                    solved += trajectory.solved
                    completed += 1
                    total = max(total, completed)
                    per_problem[problem] += 1
                    bar.update(task, total=total, completed=completed, description=describe())

                bar.update(task, description=describe())
                await evaluate(agent, repl, store, plan, progress, stored, breaker)
                rejected.update(
                    p for p, (ok, _) in store.preflight().items() if not ok and p in per_problem
                )
                bar.update(
                    task,
                    total=max(completed, total - len(rejected) * plan.samples),
                    description=describe(),
                )
    finally:
        await generator.close()


def _print_eval_summary(
    store: RunStore,
    config: RunConfig,
    folder: Path,
    problems: list[str],
    tree: CorrectionTree | None,
    cache_on: bool = True,
) -> bool:
    """Print the run's results; True when the run is complete."""
    summary = summarize(store, config)
    console = Console()
    console.print(f"run: {folder}", markup=False, highlight=False)
    for line in result_lines(summary):
        console.print(line, markup=False, highlight=False)
    if summary.complete and summary.counts:
        ks = [k for k in (1, 2, 4, 8, 16, 32, 64, 128) if k <= config.samples]
        scored = summary.scored_counts()
        line = ", ".join(f"pass@{k} {100 * mean_pass_at_k(scored, k):.1f}%" for k in ks)
        rejected = len(summary.failed_preflight)
        console.print(
            f"{line} (over all {len(scored)} problems"
            + (f"; {rejected} rejected by Lean, counted as unsolved)" if rejected else ")")
        )
    if tree is not None:
        console.print(
            f"n counts the {config.samples} first attempts; each counts as solved when it or one "
            f"of its corrections (up to {tree.rounds} rounds, {tree.children} per failed attempt) "
            "is"
        )
    console.print(f"judged under {config.judged_under()}", markup=False, highlight=False)
    console.print(f"outcomes: {store.outcome_counts()}", markup=False, highlight=False)
    cache_line = store.final_checks().line() if cache_on else "verdict cache: off"
    console.print(cache_line, markup=False, highlight=False)
    print_gold_summary(folder, store, problems, console)
    if summary.failed_preflight:
        console.print(
            f"{len(summary.failed_preflight)} statements failed pre-flight (Lean rejected "
            "them) and count as unsolved: " + ", ".join(sorted(summary.failed_preflight)),
            markup=False,
            highlight=False,
        )
    return summary.complete


def report(
    run: Annotated[Path, typer.Argument(help="A run folder written by `stepprover eval`.")],
    per_problem: Annotated[
        int, typer.Option(help="Trajectories per problem in the HTML page.")
    ] = 2,
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            help="Show pass@1 of a run with retryable or missing samples (labelled incomplete)."
        ),
    ] = False,
    drop_damaged: Annotated[
        bool,
        typer.Option(
            help="Drop the samples whose stored trajectory cannot be read, so that the same "
            "`stepprover eval` runs them again."
        ),
    ] = False,
) -> None:
    """Write report.md (tables like the paper's), PNG plots and trajectories.html into RUN.

    Exits 1 when the run is incomplete (samples retryable after outages, or not run).
    """
    from stepprover.errors import StepproverError
    from stepprover.eval.report import write_report
    from stepprover.eval.store import RunStore

    try:
        if drop_damaged:
            with RunStore.reopen(run) as store:
                dropped = store.forget_damaged()
            lost = ", ".join(f"{name} sample {index}" for name, index in dropped)
            err.print(
                f"dropped {len(dropped)} samples whose stored trajectory is damaged"
                + (f" ({lost}): the same `stepprover eval` runs them again" if dropped else ""),
                markup=False,
                highlight=False,
            )
        paths = write_report(run, per_problem=per_problem, allow_incomplete=allow_incomplete)
        summary = summarize_folder(run)
    except StepproverError as exc:
        fail(exc)
    for path in paths:
        typer.echo(str(path))
    for line in result_lines(summary, allow_incomplete=allow_incomplete):
        typer.echo(line)
    typer.echo(f"judged under {summary.config.judged_under()}")
    if not summary.complete:
        raise typer.Exit(1)


def compare(
    run_a: Annotated[Path, typer.Argument(help="First run folder (A).")],
    run_b: Annotated[Path, typer.Argument(help="Second run folder (B).")],
    intersect: Annotated[
        bool, typer.Option(help="Compare only the problems both runs cover.")
    ] = False,
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            help="Compare runs with retryable or missing samples (finished samples only, labelled)."
        ),
    ] = False,
    output: Annotated[
        Path | None, typer.Option(help="Markdown file (default RUN_A/compare-RUN_B.md).")
    ] = None,
) -> None:
    """Compare two runs: the paired difference in pass@1.

    With its bootstrap interval, the problems one run solved and the other did not, and the
    settings that differ; printed and written as Markdown."""
    from stepprover.errors import StepproverError
    from stepprover.eval.compare import compare_runs, to_markdown

    try:
        comparison = compare_runs(
            run_a, run_b, intersect=intersect, allow_incomplete=allow_incomplete
        )
    except StepproverError as exc:
        fail(exc)
    markdown = to_markdown(comparison)
    path = output or run_a / f"compare-{run_b.resolve().name}.md"
    path.write_text(markdown, encoding="utf-8")
    typer.echo(markdown)
    typer.echo(f"written to {path}")
