"""`stepprover check`: verify proofs with every integrity check."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from stepprover.cli.common import (
    LeanDir,
    Repl,
    Sandbox,
    err,
    fail,
    process_config_or_exit,
)
from stepprover.errors import ReplStartError
from stepprover.lean.pool import PoolConfig, ReplPool
from stepprover.lean.verify import LeanVerifier, Outcome, Verdict, VerifyConfig


def check(
    path: Annotated[Path, typer.Argument(help="A .lean file, or with --jsonl a JSONL of {id, code, statement}.")],
    statement: Annotated[
        Path | None, typer.Option(help="Lean file with the header + theorem the proof must prove.")
    ] = None,
    jsonl: Annotated[bool, typer.Option(help="PATH is JSONL, one proof a line.")] = False,
    output: Annotated[Path | None, typer.Option(help="Write JSONL verdicts here (default stdout).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds per proof.")] = 300.0,
    workers: Annotated[int | None, typer.Option(help="REPL workers (default: by cores and memory).")] = None,
    repl: Repl = None,
    sandbox: Sandbox = False,
    lean_dir: LeanDir = None,
) -> None:
    """Verify proofs with every integrity check; exit 0 only if all are proved."""
    pool_config = PoolConfig(process=process_config_or_exit(repl, lean_dir, sandbox), workers=workers)
    verify_config = VerifyConfig(timeout=timeout)
    if jsonl:
        items = list(_read_jsonl(path))
    else:
        stmt = statement.read_text() if statement else None
        items = [{"id": str(path), "code": path.read_bytes(), "statement": stmt}]
    try:
        verdicts = asyncio.run(_check_all(pool_config, verify_config, items))
    except ReplStartError as exc:  # no verdict exists: say why instead of reporting crashes
        fail(exc.summary, prefix="no REPL worker could be started:")
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

