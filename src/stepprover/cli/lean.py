"""`stepprover lean setup|doctor`: install and inspect Lean, the REPL and Mathlib."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stepprover.cli.common import LeanDir, fail, lean_setup_for
from stepprover.lean.toolchain import LeanSetup, SetupError, check_reachable, doctor, run_plan
from stepprover.lean.toolchain import setup_plan as build_setup_plan

_DEFAULT = LeanSetup()
"""The pinned versions `lean setup` installs unless told otherwise."""


def lean_setup(
    lean_dir: LeanDir = None,
    lean_version: Annotated[
        str | None, typer.Option(help="Lean toolchain tag.", show_default=_DEFAULT.lean_version)
    ] = None,
    mathlib_rev: Annotated[
        str | None, typer.Option(help="Mathlib tag or branch.", show_default=_DEFAULT.mathlib_rev)
    ] = None,
    repl_rev: Annotated[
        str | None, typer.Option(help="leanprover-community/repl branch.", show_default=_DEFAULT.repl_rev)
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Print the plan, run nothing.")] = False,
) -> None:
    """Install elan, the pinned Lean toolchain, the REPL and Mathlib (with its cache)."""
    setup = lean_setup_for(lean_dir, lean_version=lean_version, mathlib_rev=mathlib_rev, repl_rev=repl_rev)
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
        fail(exc, prefix="Lean setup stopped:")
    typer.echo(f"Lean is ready: {shlex.join(setup.process_config().command)}")


def lean_doctor(lean_dir: LeanDir = None) -> None:
    """Say what is present and what is missing for real Lean verification."""
    checks = doctor(lean_setup_for(lean_dir))
    table = Table("component", "status", "detail / fix")
    for c in checks:
        table.add_row(c.name, "[green]ok[/green]" if c.ok else "[red]missing[/red]", c.fix or c.detail)
    Console().print(table)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)

