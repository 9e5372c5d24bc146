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
from stepprover.cli.gold import (
    Gold,
    GoldTimeout,
    GoldWorkers,
    gold_check_all,
    gold_checker_or_exit,
)
from stepprover.errors import GoldUnavailable
from stepprover.lean.gold import GoldVerdict
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
    gold: Gold = False,
    gold_timeout: GoldTimeout = 1800.0,
    gold_workers: GoldWorkers = 1,
) -> None:
    """Verify proofs with every integrity check; exit 0 only if all are proved (and,
    with --gold, comparator proves each of them too)."""
    pool_config = PoolConfig(process=process_config_or_exit(repl, lean_dir, sandbox), workers=workers)
    verify_config = VerifyConfig(timeout=timeout)
    checker = (
        gold_checker_or_exit(lean_dir, verify_config, gold_timeout, gold_workers) if gold else None
    )
    if jsonl:
        items = list(_read_jsonl(path))
    else:
        stmt = statement.read_text() if statement else None
        items = [{"id": str(path), "code": path.read_bytes(), "statement": stmt}]
    verdicts = asyncio.run(_check_all(pool_config, verify_config, items))
    golds: list[GoldVerdict | None] = [None] * len(items)
    if checker is not None:
        try:
            golds = asyncio.run(gold_check_all(checker, items, verdicts))
        except GoldUnavailable as exc:
            fail(exc, prefix="--gold:")
    if jsonl:
        out = output.open("w") if output else sys.stdout
        for item, verdict, gold_verdict in zip(items, verdicts, golds, strict=True):
            record = {"id": item["id"], **verdict.model_dump(mode="json", exclude={"reply"})}
            if gold_verdict is not None:
                record["gold"] = gold_verdict.model_dump(mode="json", include=_GOLD_FIELDS)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        if output:
            out.close()
    else:
        _print_verdict(verdicts[0])
        if golds[0] is not None:
            _print_verdict(golds[0], label="gold (comparator): ")
    proved = sum(v.proved for v in verdicts)
    err.print(f"{proved}/{len(verdicts)} proved")
    if checker is not None:
        err.print(f"{sum(bool(g and g.proved) for g in golds)}/{len(verdicts)} proved by comparator")
    if proved != len(verdicts) or (checker is not None and not all(g and g.proved for g in golds)):
        raise typer.Exit(1)


_GOLD_FIELDS = {"outcome", "reason", "elapsed", "peak_rss_mb"}


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


def _print_verdict(verdict: Verdict, label: str = "") -> None:
    console = Console()
    color = "green" if verdict.proved else "red"
    console.print(f"{label}[{color}]{verdict.outcome.value}[/{color}] {verdict.reason}".rstrip())
    for m in verdict.messages:
        console.print(f"  {m.pos.line}:{m.pos.column} {m.severity}: {m.data}", markup=False)

