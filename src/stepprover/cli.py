"""The ``stepprover`` command line."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast, get_args

import typer
from rich.console import Console
from rich.table import Table

from stepprover.agent.display import render_trajectory, summary_line
from stepprover.agent.loop import LoopConfig
from stepprover.agent.trajectory import Trajectory
from stepprover.data.problems import (
    DataError,
    Problem,
    file_sha256,
    find_problem,
    lean_version_warning,
    load_benchmark,
    load_jsonl,
    load_minif2f,
)
from stepprover.eval.metrics import mean_pass_at_k, pass1, solve_counts
from stepprover.eval.runner import EvalPlan, evaluate
from stepprover.eval.store import RunConfig, RunConfigMismatch, RunStore
from stepprover.lean.pool import PoolConfig, ReplPool
from stepprover.lean.process import ProcessConfig
from stepprover.lean.sandbox import SandboxUnavailable
from stepprover.lean.toolchain import LeanSetup, SetupError, check_reachable, doctor, run_plan
from stepprover.lean.toolchain import setup_plan as build_setup_plan
from stepprover.lean.verify import LeanVerifier, Outcome, Verdict, VerifyConfig
from stepprover.lean_backend import LeanBackend, local_process
from stepprover.models.base import Generator, SamplingParams
from stepprover.models.loader import Backend, ModelUnavailable, load_generator
from stepprover.provers import PROVER_STYLES, build_prover, default_sampling

BACKENDS = get_args(Backend)

app = typer.Typer(help="Tool-integrated reasoning for Lean 4 theorem proving.", no_args_is_help=True)
lean_app = typer.Typer(help="Install and inspect the Lean toolchain, REPL and Mathlib.")
app.add_typer(lean_app, name="lean")
train_app = typer.Typer(help="SFT and tool-integrated GRPO (needs `pip install '.[train]'`).")
app.add_typer(train_app, name="train")
err = Console(stderr=True, soft_wrap=True)
_T = TypeVar("_T")

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


def _setup(lean_dir: Path | None, **versions: str | None) -> LeanSetup:
    given = {k: v for k, v in versions.items() if v is not None}
    return LeanSetup(**given) if lean_dir is None else LeanSetup(root=lean_dir, **given)  # type: ignore[arg-type]


@lean_app.command("setup")
def lean_setup(
    lean_dir: LeanDir = None,
    lean_version: Annotated[str | None, typer.Option(help="Lean toolchain tag.")] = None,
    mathlib_rev: Annotated[str | None, typer.Option(help="Mathlib tag or branch.")] = None,
    repl_rev: Annotated[str | None, typer.Option(help="leanprover-community/repl branch.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Print the plan, run nothing.")] = False,
) -> None:
    """Install elan, the pinned Lean toolchain, the REPL and Mathlib (with its cache)."""
    setup = _setup(lean_dir, lean_version=lean_version, mathlib_rev=mathlib_rev, repl_rev=repl_rev)
    steps = build_setup_plan(setup)
    if dry_run:
        for step in steps:
            cwd = f"  (in {step.cwd})" if step.cwd else ""
            typer.echo(f"[{'done' if step.done else 'todo'}] {step.name}: {shlex.join(step.argv)}{cwd}")
        return
    try:
        if not all(step.done for step in steps):
            check_reachable()
        run_plan(steps, log=typer.echo)
    except SetupError as exc:
        err.print(f"[red]Lean setup stopped:[/red] {exc}")
        raise typer.Exit(2) from exc
    typer.echo(f"Lean is ready: {shlex.join(setup.process_config().command)}")


@lean_app.command("doctor")
def lean_doctor(lean_dir: LeanDir = None) -> None:
    """Say what is present and what is missing for real Lean verification."""
    checks = doctor(_setup(lean_dir))
    table = Table("component", "status", "detail / fix")
    for c in checks:
        table.add_row(c.name, "[green]ok[/green]" if c.ok else "[red]missing[/red]", c.fix or c.detail)
    Console().print(table)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


def _process_config(repl: str | None, lean_dir: Path | None, sandbox: bool = False) -> ProcessConfig:
    if not repl:
        missing = [c.name for c in doctor(_setup(lean_dir)) if not c.ok]
        if missing:
            err.print(
                "[red]Lean is not set up[/red]; missing: " + "; ".join(missing)
                + ".\nRun `stepprover lean setup` (needs internet access to GitHub), "
                "or pass --repl to use another REPL command."
            )
            raise typer.Exit(2)
    try:
        return local_process(repl, lean_dir, sandbox=sandbox)
    except SandboxUnavailable as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


@app.command()
def check(
    path: Annotated[Path, typer.Argument(help="A .lean file, or with --jsonl a JSONL of {id, code, statement}.")],
    statement: Annotated[
        Path | None, typer.Option(help="Lean file with the header + theorem the proof must prove.")
    ] = None,
    jsonl: Annotated[bool, typer.Option(help="PATH is JSONL, one proof a line.")] = False,
    output: Annotated[Path | None, typer.Option(help="Write JSONL verdicts here (default stdout).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds per proof.")] = 300.0,
    workers: Annotated[int | None, typer.Option(help="REPL workers (default: by cores and memory).")] = None,
    repl: Annotated[str | None, typer.Option(help="REPL command line instead of the installed Lean.")] = None,
    sandbox: Sandbox = False,
    lean_dir: LeanDir = None,
) -> None:
    """Verify proofs with every integrity check; exit 0 only if all are proved."""
    pool_config = PoolConfig(process=_process_config(repl, lean_dir, sandbox), workers=workers)
    verify_config = VerifyConfig(timeout=timeout)
    if jsonl:
        items = list(_read_jsonl(path))
    else:
        stmt = statement.read_text() if statement else None
        items = [{"id": str(path), "code": path.read_bytes(), "statement": stmt}]
    verdicts = asyncio.run(_check_all(pool_config, verify_config, items))
    if jsonl:
        out = output.open("w") if output else sys.stdout
        for item, verdict in zip(items, verdicts, strict=True):
            record = {"id": item["id"], **verdict.model_dump(mode="json", exclude={"reply"})}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        if output:
            out.close()
    else:
        _print_verdict(verdicts[0])
    proved = sum(v.proved for v in verdicts)
    err.print(f"{proved}/{len(verdicts)} proved")
    if proved != len(verdicts):
        raise typer.Exit(1)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Proof records; a bad line becomes a record with an ``error`` (kept, never dropped)."""
    items: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            items.append({"id": str(number), "error": f"line {number}: {exc}"})
            continue
        if not isinstance(record, dict) or not isinstance(record.get("code"), str):
            given = record.get("id") if isinstance(record, dict) else None
            record = {"id": given, "error": f'line {number}: expected an object with a string "code"'}
        record["id"] = str(record.get("id") or number)
        items.append(record)
    return items


async def _check_all(
    pool_config: PoolConfig, verify_config: VerifyConfig, items: list[dict[str, Any]]
) -> list[Verdict]:
    async with ReplPool(pool_config) as pool:
        verifier = LeanVerifier(pool, verify_config)

        async def one(item: dict[str, Any]) -> Verdict:
            if "error" in item:
                return Verdict(outcome=Outcome.REJECTED, reason=item["error"])
            return await verifier.check(item["code"], statement=item.get("statement"))

        return await asyncio.gather(*(one(item) for item in items))


def _print_verdict(verdict: Verdict) -> None:
    console = Console()
    color = "green" if verdict.proved else "red"
    console.print(f"[{color}]{verdict.outcome.value}[/{color}] {verdict.reason}".rstrip())
    for m in verdict.messages:
        console.print(f"  {m.pos.line}:{m.pos.column} {m.severity}: {m.data}", markup=False)


def _sampling(style: str, temperature: float | None) -> SamplingParams:
    if style not in PROVER_STYLES:
        err.print(f"[red]unknown prompt style {style!r}[/red]; known: {', '.join(PROVER_STYLES)}")
        raise typer.Exit(2)
    params = default_sampling(style)
    return params if temperature is None else dataclasses.replace(params, temperature=temperature)


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
    return problem_from_lean(problem.read_text(encoding="utf-8"), default_name=problem.stem)


def problem_from_lean(text: str, *, default_name: str) -> Problem:
    """A problem from a Lean file: everything before the first theorem is the header."""
    from stepprover.lean.lexer import Kind, tokenize
    from stepprover.lean.source import THEOREM_KEYWORDS

    tokens = tokenize(text).tokens
    start = next(
        (t for t in tokens if t.kind is Kind.IDENT and t.text in THEOREM_KEYWORDS), None
    )
    if start is None:
        raise DataError("the Lean file declares no theorem to prove")
    statement = text[start.start :].rstrip()
    statement = statement.removesuffix("sorry").rstrip()
    name_index = tokens.index(start) + 1
    name = tokens[name_index].text if name_index < len(tokens) else default_name
    return Problem(name=name, header=text[: start.start], formal_statement=statement + "\n")


@app.command()
def prove(
    model: Annotated[str, typer.Option(help="Local folder or Hugging Face name of the model.")],
    problem: Annotated[Path | None, typer.Option(help="A .lean statement or a JSONL of problems.")] = None,
    minif2f: Annotated[str | None, typer.Option(help="A miniF2F problem name (bundled).")] = None,
    name: Annotated[str | None, typer.Option(help="Which problem of the JSONL.")] = None,
    backend: Annotated[str, typer.Option(help="auto | vllm | openai | transformers")] = "auto",
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")] = None,
    tokenizer: Annotated[str | None, typer.Option(help="Tokenizer path if not the model's.")] = None,
    max_repl_calls: Annotated[int | None, typer.Option(help="Cap on REPL interactions.")] = None,
    max_context_tokens: Annotated[int, typer.Option(help="Context cap in tokens.")] = 20480,
    sketch_timeout: Annotated[float, typer.Option(help="Seconds per sketch.")] = 60.0,
    temperature: Annotated[float | None, typer.Option(help="Default: the prover style's own.")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    prompt_style: Annotated[str, typer.Option(help="Prover: " + ", ".join(PROVER_STYLES))] = "stepfun-tir",
    as_json: Annotated[bool, typer.Option("--json", help="Print the trajectory as JSON.")] = False,
    repl: Annotated[str | None, typer.Option(help="REPL command line instead of the installed Lean.")] = None,
    lean_url: LeanUrl = None,
    lean_api_key: LeanApiKey = None,
    sandbox: Sandbox = False,
    lean_dir: LeanDir = None,
) -> None:
    """Prove one problem with tool-integrated reasoning and show the trajectory."""
    try:
        target = _load_problem(problem, minif2f, name)
    except (DataError, OSError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    pool_config = None if lean_url else PoolConfig(process=_process_config(repl, lean_dir, sandbox), workers=2)
    generator = _load_generator_or_exit(model, backend, base_url, tokenizer)
    config = LoopConfig(
        max_repl_calls=max_repl_calls,
        max_context_tokens=max_context_tokens,
        sketch_timeout=sketch_timeout,
        sampling=dataclasses.replace(_sampling(prompt_style, temperature), seed=seed),
        prompt_style=prompt_style,
    )
    # Two workers: sketches run under `import Mathlib`, the final proof under the problem's header.
    lean = LeanBackend(pool_config, lean_url, lean_api_key)
    trajectory = asyncio.run(_prove(generator, lean, config, target))
    if as_json:
        typer.echo(trajectory.model_dump_json())
    else:
        console = Console()
        console.print(render_trajectory(trajectory))
        console.print(summary_line(trajectory))
    if not trajectory.solved:
        raise typer.Exit(1)


async def _prove(
    generator: Generator, lean: LeanBackend, config: LoopConfig, problem: Problem
) -> Trajectory:
    try:
        async with lean.open() as (repl, verifier):
            prover = build_prover(config.prompt_style, generator, repl, verifier, config)
            return await prover.run(problem)
    finally:
        await generator.close()


@app.command("eval")
def eval_(
    model: Annotated[str, typer.Option(help="Local folder or Hugging Face name of the model.")],
    benchmark: Annotated[str, typer.Option(help="minif2f-test, minif2f-valid, or FILE.jsonl[:SPLIT].")] = "minif2f-test",
    samples: Annotated[int, typer.Option(help="Samples per problem.")] = 32,
    run_dir: Annotated[Path | None, typer.Option(help="Where the run is stored (resumable).")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N problems.")] = None,
    problems: Annotated[str | None, typer.Option(help="Comma-separated problem names.")] = None,
    concurrency: Annotated[int, typer.Option(help="Trajectories in flight.")] = 64,
    workers: Annotated[int | None, typer.Option(help="REPL workers (default: by cores and memory).")] = None,
    backend: Annotated[str, typer.Option(help="auto | vllm | openai | transformers | scripted")] = "auto",
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL.")] = None,
    tokenizer: Annotated[str | None, typer.Option(help="Tokenizer path if not the model's.")] = None,
    max_repl_calls: Annotated[int | None, typer.Option(help="Cap on REPL interactions.")] = None,
    max_context_tokens: Annotated[int, typer.Option(help="Context cap in tokens.")] = 20480,
    sketch_timeout: Annotated[float, typer.Option(help="Seconds per sketch.")] = 60.0,
    final_timeout: Annotated[float, typer.Option(help="Seconds for the final verification.")] = 300.0,
    temperature: Annotated[float | None, typer.Option(help="Default: the prover style's own.")] = None,
    prompt_style: Annotated[str, typer.Option(help="Prover: " + ", ".join(PROVER_STYLES))] = "stepfun-tir",
    repl: Annotated[str | None, typer.Option(help="REPL command line instead of the installed Lean.")] = None,
    lean_url: LeanUrl = None,
    lean_api_key: LeanApiKey = None,
    lean_ray: Annotated[str | None, typer.Option(help="Ray cluster address ('auto') to spread Lean over.")] = None,
    sandbox: Sandbox = False,
    lean_dir: LeanDir = None,
) -> None:
    """Run n samples per problem, resumably; print pass@k over the full problem count."""
    try:
        chosen, path, split = load_benchmark(benchmark)
        if problems:
            names = [n.strip() for n in problems.split(",") if n.strip()]
            chosen = [find_problem(chosen, n) for n in names]
        chosen = chosen[:limit] if limit else chosen
    except (DataError, OSError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    pool_config = None if lean_url else PoolConfig(process=_process_config(repl, lean_dir, sandbox), workers=workers)
    warning = lean_version_warning(benchmark, None if repl else _setup(lean_dir).lean_version)
    if warning:
        err.print(f"[yellow]warning:[/yellow] {warning}")
    loop = LoopConfig(
        max_repl_calls=max_repl_calls, max_context_tokens=max_context_tokens,
        sketch_timeout=sketch_timeout, final_timeout=final_timeout,
        sampling=_sampling(prompt_style, temperature), prompt_style=prompt_style,
    )  # fmt: skip
    budgets = {k: v for k, v in dataclasses.asdict(loop).items() if k not in ("sampling", "prompt_style")}
    config = RunConfig(
        model=model, prompt_style=loop.prompt_style, samples=samples,
        sampling=dataclasses.asdict(loop.sampling), budgets=budgets,
        lean=f"service: {lean_url}" if lean_url else (f"repl: {repl}" if repl else _setup(lean_dir).version_label),
        dataset=benchmark, dataset_sha256=file_sha256(path), split=split,
    )  # fmt: skip
    folder = run_dir or Path("runs") / f"{Path(model).name}-{benchmark.replace('/', '_')}-n{samples}"
    try:
        store = RunStore.open(folder, config)
    except RunConfigMismatch as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    try:
        store.record_problems([p.name for p in chosen])
        generator = _load_generator_or_exit(model, backend, base_url, tokenizer)
        asyncio.run(_eval(generator, LeanBackend(pool_config, lean_url, lean_api_key, lean_ray), loop,
                          store, EvalPlan(chosen, samples, concurrency)))
        _print_eval_summary(store, chosen, samples, folder)
    finally:
        store.close()


def _load_generator_or_exit(model: str, backend: str, base_url: str | None,
                            tokenizer: str | None) -> Generator:
    try:
        if backend not in BACKENDS:
            raise ModelUnavailable(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        return load_generator(model, backend=cast(Backend, backend), base_url=base_url,
                              tokenizer=tokenizer)
    except ModelUnavailable as exc:
        err.print(f"[red]Model unavailable:[/red] {exc}")
        raise typer.Exit(2) from exc


async def _eval(generator: Generator, lean: LeanBackend, loop: LoopConfig,
                store: RunStore, plan: EvalPlan) -> None:
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    try:
        async with lean.open() as (repl, verifier):
            agent = build_prover(loop.prompt_style, generator, repl, verifier, loop)
            done = store.done()
            total = len(plan.problems) * plan.samples
            solved = sum(r.solved for r in store.results())
            per_problem = {p.name: sum((p.name, i) in done for i in range(plan.samples))
                           for p in plan.problems}
            columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                       TextColumn("{task.completed}/{task.total} samples · {task.speed} /s"),
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


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Run the HTTP verification service (settings from STEPPROVER_SERVICE_* variables)."""
    import uvicorn

    from stepprover.server.app import create_app
    from stepprover.server.settings import ServiceSettings

    uvicorn.run(create_app(ServiceSettings()), host=host, port=port, log_level="warning")


@app.command()
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
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    for path in paths:
        typer.echo(str(path))


def _training(run: Callable[[], _T]) -> _T:
    """Run a training command; a config, data or setup problem is one clear line, not a traceback."""
    from stepprover.errors import StepproverError

    try:
        return run()
    except StepproverError as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from exc


@train_app.command("sft")
def train_sft(config: Annotated[Path, typer.Argument(help="YAML, e.g. configs/sft-7b.yaml")]) -> None:
    """SFT on verified trajectories (REPL feedback masked) and whole proofs."""
    from stepprover.train.config import SFTRunConfig, load_config
    from stepprover.train.run import run_sft

    typer.echo(str(_training(lambda: run_sft(load_config(config, SFTRunConfig)))))


@train_app.command("grpo")
def train_grpo(config: Annotated[Path, typer.Argument(help="YAML, e.g. configs/grpo-7b-8gpu.yaml")]) -> None:
    """Tool-integrated GRPO: rollouts by the agent loop, reward from the verifier."""
    from stepprover.train.config import GRPORunConfig, load_config
    from stepprover.train.run import run_grpo

    typer.echo(str(_training(lambda: run_grpo(load_config(config, GRPORunConfig)))))


@train_app.command("cycle")
def train_cycle(config: Annotated[Path, typer.Argument(help="YAML with model, prompts, eval, sft_trl, grpo_trl")]) -> None:
    """RL→SFT→RL: eval, SFT on the hardest solved problems, GRPO; resumes finished stages."""
    from stepprover.train.config import CycleRunConfig, load_config
    from stepprover.train.cycle import run_cycle

    typer.echo(_training(lambda: run_cycle(load_config(config, CycleRunConfig))))


@train_app.command("plot")
def train_plot(run: Annotated[Path, typer.Argument(help="A training output folder with metrics.csv")]) -> None:
    """Plot reward, pass rate, response length, REPL calls and truncation per step."""
    from stepprover.train.metrics import plot_metrics

    typer.echo(str(plot_metrics(run / "metrics.csv", run / "metrics.png")))


if __name__ == "__main__":
    app()
