"""`stepprover lean setup|doctor|selftest`: install and inspect Lean, the REPL and Mathlib
(and, with --with-comparator, what the gold check needs), and run the verifier's self-test suite."""

from __future__ import annotations

import asyncio
import shlex
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stepprover.cli.common import (
    OUTAGE,
    LeanDir,
    Repl,
    at_least_one_or_exit,
    fail,
    lean_setup_for,
    positive_or_exit,
    process_config_or_exit,
    repl_starts_or_exit,
)
from stepprover.errors import LeanUnavailable, SetupError
from stepprover.lean import selftest
from stepprover.lean.pool import PoolConfig, ReplPool
from stepprover.lean.process import ProcessConfig
from stepprover.lean.toolchain import (
    Check,
    LeanSetup,
    check_reachable,
    doctor,
    gold_doctor,
    gold_setup_plan,
    run_plan,
)
from stepprover.lean.toolchain import setup_plan as build_setup_plan
from stepprover.lean.verify import LeanVerifier, VerifyConfig

WithComparator = Annotated[
    bool,
    typer.Option(help="Also comparator, lean4export and landrun (the gold check, `--gold`)."),
]

_DEFAULT = LeanSetup()
"""The pinned versions `lean setup` installs unless told otherwise."""


def lean_setup(
    lean_dir: LeanDir = None,
    lean_version: Annotated[
        str | None,
        typer.Option(
            help=f"Lean toolchain tag (default {_DEFAULT.lean_version}).", show_default=False
        ),
    ] = None,
    mathlib_rev: Annotated[
        str | None,
        typer.Option(
            help=f"Mathlib tag or branch (default {_DEFAULT.mathlib_rev}).", show_default=False
        ),
    ] = None,
    repl_rev: Annotated[
        str | None,
        typer.Option(
            help=f"leanprover-community/repl branch (default {_DEFAULT.repl_rev}).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Print the plan, run nothing.")] = False,
    with_comparator: WithComparator = False,
) -> None:
    """Install elan, the pinned Lean toolchain, the REPL and Mathlib (with its cache).

    Exit status: 0 when Lean is ready (or the plan was printed), 2 for options that cannot
    be used (a Lean version comparator does not support), 3 when a step failed or GitHub
    cannot be reached (Lean cannot be set up here)."""
    setup = lean_setup_for(
        lean_dir, lean_version=lean_version, mathlib_rev=mathlib_rev, repl_rev=repl_rev
    )
    steps = build_setup_plan(setup)
    if with_comparator:
        try:
            steps += gold_setup_plan(setup)
        except SetupError as exc:
            fail(exc, prefix="Lean setup stopped:")
    if dry_run:
        for step in steps:
            cwd = f"  (in {step.cwd})" if step.cwd else ""
            typer.echo(f"[{'done' if step.done else 'todo'}] {step.name}: {step.shown}{cwd}")
        return
    try:
        if not all(step.done for step in steps):
            check_reachable()
        run_plan(steps, log=typer.echo)
    except SetupError as exc:  # no network, a step that failed: nothing to judge with yet
        fail(exc, prefix="Lean setup stopped:", code=OUTAGE)
    typer.echo(f"Lean is ready: {shlex.join(setup.process_config().command)}")
    if with_comparator:
        typer.echo(f"comparator is ready: {setup.comparator_binary}")


def lean_doctor(lean_dir: LeanDir = None, with_comparator: WithComparator = False) -> None:
    """Say what is present and what is missing for real Lean verification.

    Also for the gold check with comparator (those count for the exit status with
    --with-comparator). Exit status: 0 when all is present, 1 when something is missing."""
    setup = lean_setup_for(lean_dir)
    checks = doctor(setup)
    gold = gold_doctor(setup)
    console = Console()
    console.print(_table(checks, "Lean, REPL, Mathlib"))
    console.print(_table(gold, "gold check: comparator, lean4export, landrun (optional)"))
    if not all(c.ok for c in checks) or (with_comparator and not all(c.ok for c in gold)):
        raise typer.Exit(1)


def _table(checks: list[Check], title: str) -> Table:
    table = Table("component", "status", "detail / fix", "checked by", title=title)
    for c in checks:
        table.add_row(
            c.name,
            "[green]ok[/green]" if c.ok else f"[red]{c.failed_as}[/red]",
            c.fix or c.detail,
            c.evidence,
        )
    return table


def lean_selftest(
    dry_run: Annotated[
        bool,
        typer.Option(
            help="Only say which cases are refused before Lean and which are left to Lean."
        ),
    ] = False,
    repl: Repl = None,
    lean_dir: LeanDir = None,
    timeout: Annotated[float, typer.Option(help="Seconds per case.")] = 300.0,
    workers: Annotated[int, typer.Option(help="REPL workers.")] = 2,
    verbose: Annotated[
        bool,
        typer.Option(help="List every case, not only misclassified ones (a dry run lists all)."),
    ] = False,
) -> None:
    """Run the verifier's shipped suite (honest proofs, exploits); print a confusion matrix.

    Exits 1 if any case is misclassified: an honest proof not proved (or refused before
    Lean), an exploit proved (or, in a dry run, stopped at another stage than expected);
    2 for input that cannot be used, 3 if Lean is not set up or could not be started.
    """
    positive_or_exit("--timeout", timeout)
    at_least_one_or_exit("--workers", workers)
    cases = selftest.CASES
    if dry_run:
        results = selftest.dry_run(cases)
    else:
        process = process_config_or_exit(repl, lean_dir)
        repl_starts_or_exit(process, timeout)
        try:
            results = asyncio.run(_selftest_with_lean(process, timeout, workers))
        except LeanUnavailable as exc:
            fail(f"no verdict: Lean could not be started or reached ({exc})", code=OUTAGE)
    honest = sum(c.honest for c in cases)
    typer.echo(f"{len(cases)} cases: {honest} honest, {len(cases) - honest} exploits")
    table = Table(*selftest.HEADERS, title="dry run" if dry_run else "verified with Lean")
    for row in selftest.confusion_matrix(results):
        table.add_row(*row)
    Console().print(table)
    shown = results if verbose or dry_run else [r for r in results if r.misclassified]
    for r in shown:
        where = (
            "refused before Lean"
            if r.stopped_before_lean
            else ("left to Lean" if r.outcome is None else f"Lean: {r.outcome}")
        )
        mark = "MISCLASSIFIED " if r.misclassified else ""
        expected = "honest" if r.case.honest else f"{r.case.kind}, expected at {r.case.stage}"
        reason = f" ({r.reason})" if r.reason else ""
        typer.echo(f"{mark}{r.case.name} ({expected}): {where}{reason}")
    wrong = sum(r.misclassified for r in results)
    typer.echo(f"{wrong} misclassified")
    if wrong:
        raise typer.Exit(1)


async def _selftest_with_lean(
    process: ProcessConfig, check_timeout: float, workers: int
) -> list[selftest.Result]:
    async with ReplPool(PoolConfig(process=process, workers=workers, warmup_timeout=900)) as pool:
        verifier = LeanVerifier(pool, VerifyConfig(timeout=check_timeout))
        return await selftest.run(verifier, selftest.CASES, concurrency=workers)
