"""`stepprover lean setup|doctor`: install and inspect Lean, the REPL and Mathlib
(and, with --with-comparator, what the gold check needs)."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stepprover.cli.common import LeanDir, fail, lean_setup_for
from stepprover.errors import SetupError
from stepprover.lean.toolchain import (
    Check,
    check_reachable,
    doctor,
    gold_doctor,
    gold_setup_plan,
    run_plan,
)
from stepprover.lean.toolchain import setup_plan as build_setup_plan

WithComparator = Annotated[
    bool,
    typer.Option(help="Also comparator, lean4export and landrun (the gold check, `--gold`)."),
]


def lean_setup(
    lean_dir: LeanDir = None,
    lean_version: Annotated[str | None, typer.Option(help="Lean toolchain tag.")] = None,
    mathlib_rev: Annotated[str | None, typer.Option(help="Mathlib tag or branch.")] = None,
    repl_rev: Annotated[str | None, typer.Option(help="leanprover-community/repl branch.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Print the plan, run nothing.")] = False,
    with_comparator: WithComparator = False,
) -> None:
    """Install elan, the pinned Lean toolchain, the REPL and Mathlib (with its cache)."""
    setup = lean_setup_for(lean_dir, lean_version=lean_version, mathlib_rev=mathlib_rev, repl_rev=repl_rev)
    steps = build_setup_plan(setup)
    if with_comparator:
        try:
            steps += gold_setup_plan(setup)
        except SetupError as exc:
            fail(exc, prefix="Lean setup stopped:")
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
        fail(exc, prefix="Lean setup stopped:")
    typer.echo(f"Lean is ready: {shlex.join(setup.process_config().command)}")
    if with_comparator:
        typer.echo(f"comparator is ready: {setup.comparator_binary}")


def lean_doctor(lean_dir: LeanDir = None, with_comparator: WithComparator = False) -> None:
    """Say what is present and what is missing for real Lean verification (and for the
    gold check with comparator; those count for the exit code with --with-comparator)."""
    setup = lean_setup_for(lean_dir)
    checks = doctor(setup)
    gold = gold_doctor(setup)
    console = Console()
    console.print(_table(checks, "Lean, REPL, Mathlib"))
    console.print(_table(gold, "gold check: comparator, lean4export, landrun (optional)"))
    if not all(c.ok for c in checks) or (with_comparator and not all(c.ok for c in gold)):
        raise typer.Exit(1)


def _table(checks: list[Check], title: str) -> Table:
    table = Table("component", "status", "detail / fix", title=title)
    for c in checks:
        table.add_row(c.name, "[green]ok[/green]" if c.ok else "[red]missing[/red]", c.fix or c.detail)
    return table

