"""`stepprover check`: verify proofs with every integrity check."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from stepprover.cli.common import (
    INTERRUPTED,
    LeanDir,
    Repl,
    Sandbox,
    WarmupTimeout,
    at_least_one_or_exit,
    err,
    fail,
    output_folder_or_exit,
    positive_or_exit,
    process_config_or_exit,
    read_bytes_or_exit,
    read_text_or_exit,
)
from stepprover.lean.pool import PoolConfig, ReplPool
from stepprover.lean.verify import LeanVerifier, Outcome, Verdict, VerifyConfig


def check(
    path: Annotated[Path, typer.Argument(help="A .lean file, or with --jsonl a JSONL of {id, code, statement}.")],
    statement: Annotated[
        Path | None, typer.Option(help="Lean file with the header + theorem the proof must prove.")
    ] = None,
    jsonl: Annotated[bool, typer.Option(help="PATH is JSONL, one proof a line.")] = False,
    output: Annotated[
        Path | None, typer.Option(help="Write JSONL verdicts here, each as it is reached (default stdout).")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds per proof.")] = 300.0,
    warmup_timeout: WarmupTimeout = 300.0,
    workers: Annotated[int | None, typer.Option(help="REPL workers (default: by cores and memory).")] = None,
    repl: Repl = None,
    sandbox: Sandbox = False,
    lean_dir: LeanDir = None,
) -> None:
    """Verify proofs with every integrity check.

    Exit status: 0 if every proof is proved, 1 if one is not, 2 for input that cannot be used (one line on stderr says why), 130 if interrupted."""
    positive_or_exit("--timeout", timeout)
    positive_or_exit("--warmup-timeout", warmup_timeout)
    at_least_one_or_exit("--workers", workers)
    output_folder_or_exit(output)
    if jsonl:
        items = _read_jsonl(read_bytes_or_exit(path, "JSONL"))
    else:
        stmt = read_text_or_exit(statement, "statement") if statement else None
        items = [{"id": str(path), "code": read_bytes_or_exit(path, "proof"), "statement": stmt}]
    pool_config = PoolConfig(process=process_config_or_exit(repl, lean_dir, sandbox), workers=workers,
                             warmup_timeout=warmup_timeout)
    verify_config = VerifyConfig(timeout=timeout)
    out: IO[str] | None = None
    if jsonl:
        try:
            out = output.open("w", encoding="utf-8") if output else sys.stdout
        except OSError as exc:
            fail(f"cannot write --output {output}: {exc.strerror or exc}")

    def emit(item: dict[str, Any], verdict: Verdict) -> None:
        """Write each verdict as soon as it is reached, so an interruption loses none."""
        if out is None:
            return
        record = {"id": item["id"], **verdict.model_dump(mode="json", exclude={"reply"})}
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()

    try:
        verdicts = asyncio.run(_check_all(pool_config, verify_config, items, emit))
    except KeyboardInterrupt:
        err.print("interrupted", style="red", highlight=False)
        raise typer.Exit(INTERRUPTED) from None
    finally:
        if out is not None and out is not sys.stdout:
            out.close()
    if not jsonl:
        _print_verdict(verdicts[0])
    proved = sum(v.proved for v in verdicts)
    err.print(f"{proved}/{len(verdicts)} proved", highlight=False)
    if proved != len(verdicts):
        raise typer.Exit(1)


def _read_jsonl(data: bytes) -> list[dict[str, Any]]:
    """Proof records; a bad line becomes a record with an ``error`` (kept, never dropped)."""
    items: list[dict[str, Any]] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            items.append({"id": str(number), "error": f"line {number}: {exc}"})
            continue
        problem = _record_problem(record)
        given = record.get("id") if isinstance(record, dict) else None
        # An id is echoed back; one that cannot be written as UTF-8 is replaced by the line number.
        given = given if given is not None and _utf8(str(given)) else None
        if problem:
            record = {"id": given, "error": f"line {number}: {problem}"}
        record["id"] = str(given or number)
        items.append(record)
    return items


def _record_problem(record: Any) -> str | None:
    """Why a parsed JSONL record cannot be checked, or None."""
    if not isinstance(record, dict) or not isinstance(record.get("code"), str):
        return 'expected an object with a string "code"'
    if not isinstance(record.get("statement"), str | None):
        return '"statement" must be a string (or absent)'
    for key in ("code", "statement"):
        if isinstance(record.get(key), str) and not _utf8(record[key]):
            return f'"{key}" is not valid Unicode (it holds a lone surrogate such as \\ud800)'
    return None


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def _check_all(
    pool_config: PoolConfig,
    verify_config: VerifyConfig,
    items: list[dict[str, Any]],
    emit: Callable[[dict[str, Any], Verdict], None],
) -> list[Verdict]:
    async with ReplPool(pool_config) as pool:
        verifier = LeanVerifier(pool, verify_config)

        async def one(item: dict[str, Any]) -> Verdict:
            verdict = await _verdict(verifier, item)
            emit(item, verdict)
            return verdict

        return await asyncio.gather(*(one(item) for item in items))


async def _verdict(verifier: LeanVerifier, item: dict[str, Any]) -> Verdict:
    """The item's verdict; whatever goes wrong with one item stays that item's verdict."""
    if "error" in item:
        return Verdict(outcome=Outcome.REJECTED, reason=item["error"])
    try:
        return await verifier.check(item["code"], statement=item.get("statement"))
    except Exception as exc:  # noqa: BLE001 - reported as this proof's verdict, never lost
        return Verdict(outcome=Outcome.CRASH, reason=f"stepprover failed on this proof: {exc!r}")


def _print_verdict(verdict: Verdict) -> None:
    """The verdict line in color, then Lean's messages as plain text: no markup, no
    highlighting (a megabyte message must print as fast as it can be written)."""
    console = Console(highlight=False)
    console.print(Text(verdict.outcome.value, style="green" if verdict.proved else "red"),
                  Text(verdict.reason) if verdict.reason else "")
    for m in verdict.messages:
        typer.echo(f"  {m.pos.line}:{m.pos.column} {m.severity}: {m.data}")
