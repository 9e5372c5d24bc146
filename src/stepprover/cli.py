"""The ``stepprover`` command line."""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from stepprover.lean.pool import PoolConfig, ReplPool
from stepprover.lean.process import ProcessConfig
from stepprover.lean.toolchain import LeanSetup, SetupError, check_reachable, doctor, run_plan
from stepprover.lean.toolchain import setup_plan as build_setup_plan
from stepprover.lean.verify import LeanVerifier, Outcome, Verdict, VerifyConfig

app = typer.Typer(help="Tool-integrated reasoning for Lean 4 theorem proving.", no_args_is_help=True)
lean_app = typer.Typer(help="Install and inspect the Lean toolchain, REPL and Mathlib.")
app.add_typer(lean_app, name="lean")
err = Console(stderr=True)

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


def _process_config(repl: str | None, lean_dir: Path | None) -> ProcessConfig:
    if repl:
        return ProcessConfig(command=shlex.split(repl))
    setup = _setup(lean_dir)
    missing = [c.name for c in doctor(setup) if not c.ok]
    if missing:
        err.print(
            "[red]Lean is not set up[/red]; missing: " + "; ".join(missing)
            + ".\nRun `stepprover lean setup` (needs internet access to GitHub), "
            "or pass --repl to use another REPL command."
        )
        raise typer.Exit(2)
    return setup.process_config()


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
    lean_dir: LeanDir = None,
) -> None:
    """Verify proofs with every integrity check; exit 0 only if all are proved."""
    pool_config = PoolConfig(process=_process_config(repl, lean_dir), workers=workers)
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


if __name__ == "__main__":
    app()
