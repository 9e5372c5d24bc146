"""`stepprover check`: verify proofs with every integrity check."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from stepprover.cli.common import (
    OUTAGE,
    Cache,
    CacheDir,
    LeanDir,
    Repl,
    Sandbox,
    WarmupTimeout,
    at_least_one_or_exit,
    cache_or_none,
    err,
    fail,
    interrupted,
    open_or_exit,
    output_folder_or_exit,
    positive_or_exit,
    process_config_or_exit,
    read_text_or_exit,
    read_upto_or_exit,
)
from stepprover.cli.gold import (
    Gold,
    GoldTimeout,
    GoldWorkers,
    gold_check_all,
    gold_checker_or_exit,
)
from stepprover.errors import DataError, GoldUnavailable, LeanUnavailable
from stepprover.lean.gold import GoldVerdict
from stepprover.lean.pool import PoolConfig, ReplPool
from stepprover.lean.verdict_cache import CacheSettings
from stepprover.lean.verify import (
    LeanVerifier,
    Outcome,
    Verdict,
    Verifier,
    VerifyConfig,
    statement_problem,
)


def check(
    path: Annotated[
        Path, typer.Argument(help="A .lean file, or with --jsonl a JSONL of {id, code, statement}.")
    ],
    statement: Annotated[
        Path | None, typer.Option(help="Lean file with the header + theorem the proof must prove.")
    ] = None,
    jsonl: Annotated[bool, typer.Option(help="PATH is JSONL, one proof a line.")] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            help="Write JSONL verdicts here, each as it is reached (with --jsonl, default "
            "stdout; one proof: its verdict as one JSONL line, besides the printed one)."
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds per proof.")] = 300.0,
    warmup_timeout: WarmupTimeout = 300.0,
    workers: Annotated[
        int | None, typer.Option(help="REPL workers (default: by cores and memory).")
    ] = None,
    repl: Repl = None,
    sandbox: Sandbox = False,
    lean_dir: LeanDir = None,
    cache: Cache = None,
    cache_dir: CacheDir = None,
    gold: Gold = False,
    gold_timeout: GoldTimeout = 1800.0,
    gold_workers: GoldWorkers = 1,
) -> None:
    """Verify proofs with every integrity check.

    Exit status: 0 if every proof is proved (and, with --gold, comparator proves each of
    them too), 1 if one is not, 2 for input that cannot be used (one line on stderr says
    why), 3 if Lean is not set up or could not be started or reached (no verdict), 130 after
    Ctrl-C, 143 after SIGTERM."""
    positive_or_exit("--timeout", timeout)
    positive_or_exit("--warmup-timeout", warmup_timeout)
    at_least_one_or_exit("--workers", workers)
    output_folder_or_exit(output)
    verify_config = VerifyConfig(timeout=timeout)
    limit = verify_config.max_code_bytes
    if jsonl:
        with open_or_exit(path, "JSONL") as f:
            try:
                items = _read_jsonl(f)
            except DataError as exc:
                fail(f"JSONL {path}: {exc}")
            except OSError as exc:
                fail(f"cannot read JSONL {path}: {exc.strerror or exc}")
        if not items:
            fail(f"JSONL {path} holds no proof (no line that is not blank)")
    else:
        stmt = read_text_or_exit(statement, "statement", limit) if statement else None
        if statement and stmt is not None and (problem := statement_problem(stmt)):
            fail(f"statement {statement}: {problem.removeprefix('the given statement ')}")
        code = read_upto_or_exit(path, "proof", limit)
        if problem := _unusable_proof_file(code):
            fail(f"proof {path} {problem}")
        items = [
            {"id": str(path), "code": code, "statement": stmt}
            if len(code) <= limit
            else {"id": str(path), "error": f"the proof is over the {limit}-byte limit"}
        ]
    pool_config = PoolConfig(
        process=process_config_or_exit(repl, lean_dir, sandbox),
        workers=workers,
        warmup_timeout=warmup_timeout,
    )
    verdict_cache = cache_or_none(cache, cache_dir, repl, lean_dir)
    checker = (
        gold_checker_or_exit(lean_dir, verify_config, gold_timeout, gold_workers) if gold else None
    )
    out: IO[str] | None = None
    if jsonl or output:  # one proof: its verdict is printed, and written to --output if given
        try:
            out = output.open("w", encoding="utf-8") if output else sys.stdout
        except OSError as exc:
            fail(f"cannot write --output {output}: {exc.strerror or exc}")

    def write(
        item: dict[str, Any], verdict: Verdict, gold_verdict: GoldVerdict | None = None
    ) -> None:
        if out is None:
            return
        record = {"id": item["id"], **verdict.model_dump(mode="json", exclude={"reply"})}
        if gold_verdict is not None:
            record["gold"] = gold_verdict.model_dump(mode="json", include=_GOLD_FIELDS)
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()

    # Each verdict is written as soon as it is reached, so an interruption loses none; with
    # --gold a record is written once comparator has judged it too.
    emit = write if checker is None else (lambda item, verdict: None)
    golds: list[GoldVerdict | None] = []
    try:
        verdicts = asyncio.run(_check_all(pool_config, verify_config, items, emit, verdict_cache))
        golds = [None] * len(items)
        if checker is not None:
            try:
                golds = asyncio.run(gold_check_all(checker, items, verdicts))
            except GoldUnavailable as exc:
                fail(exc, prefix="--gold:")
            for item, verdict, gold_verdict in zip(items, verdicts, golds, strict=True):
                write(item, verdict, gold_verdict)
    except KeyboardInterrupt:
        interrupted()
    except LeanUnavailable as exc:
        fail(f"no verdict: Lean could not be started or reached ({exc})", code=OUTAGE)
    finally:
        if out is not None and out is not sys.stdout:
            out.close()
    if not jsonl:
        _print_verdict(verdicts[0])
        if golds[0] is not None:
            _print_verdict(golds[0], label="gold (comparator): ")
    proved = sum(v.proved for v in verdicts)
    err.print(f"{proved}/{len(verdicts)} proved", highlight=False)
    if checker is not None:
        err.print(
            f"{sum(bool(g and g.proved) for g in golds)}/{len(verdicts)} proved by comparator"
        )
    if proved != len(verdicts) or (checker is not None and not all(g and g.proved for g in golds)):
        raise typer.Exit(1)


_GOLD_FIELDS = {"outcome", "reason", "elapsed", "peak_rss_mb"}


def _unusable_proof_file(code: bytes) -> str | None:
    """Why a proof file is unusable as it stands (only whitespace; lines ended by CR alone,
    which Lean does not take as line ends: its ``whitespace`` in src/Lean/Parser/Basic.lean
    ends a ``--`` comment with ``takeUntilFn (fun c => c = '\\n')``), or None."""
    if not code.strip():
        return "is empty" if not code else f"holds only whitespace ({len(code)} bytes)"
    if b"\r" in code and b"\n" not in code:
        return (
            "ends its lines with CR alone (classic Mac OS); Lean ends a line at LF only, so a "
            "`--` comment would run to the end of the file: convert it (tr '\\r' '\\n')"
        )
    return None


JSONL_LINE_LIMIT = 16 * 2**20
"""Bytes in one JSONL line (a proof at the verifier's limit, JSON-escaped, and its statement)."""
JSONL_LIMIT = 2**30
"""Bytes in a whole JSONL file."""


def _jsonl_lines(f: IO[bytes]) -> Iterator[bytes | None]:
    """The lines of ``f``, each read against ``JSONL_LINE_LIMIT`` (``None`` for a longer one,
    whose rest is skipped unread into memory). Raises ``DataError`` past ``JSONL_LIMIT``."""
    total = 0
    while line := f.readline(JSONL_LINE_LIMIT + 1):
        total += len(line)
        too_long = len(line) > JSONL_LINE_LIMIT
        while too_long and not line.endswith(b"\n") and (line := f.readline(1 << 16)):
            total += len(line)
            if total > JSONL_LIMIT:
                break
        if total > JSONL_LIMIT:
            raise DataError(f"over the {JSONL_LIMIT}-byte limit for a JSONL; split it")
        if too_long:
            yield None
        else:
            yield from line.splitlines() or [b""]


def _read_jsonl(f: IO[bytes]) -> list[dict[str, Any]]:
    """Proof records; a bad line becomes a record with an ``error`` (kept, never dropped).
    A line without a usable id is known by its number (``"line N"`` where another line
    gives that number as its id). Raises ``DataError`` for an id given twice."""
    parsed: list[tuple[int, dict[str, Any], str | None]] = []  # line number, record, its id
    given_on: dict[str, int] = {}
    for number, line in enumerate(_jsonl_lines(f), start=1):
        if line is not None and not line.strip():
            continue
        record, given = _parse_line(number, line)
        if given is not None:
            if given in given_on:
                raise DataError(
                    f"line {number}: id {given!r} is also on line {given_on[given]}; ids must "
                    "be unique (verdicts are written as they are reached, each with its id)"
                )
            given_on[given] = number
        parsed.append((number, record, given))
    items = []
    for number, record, given in parsed:
        fallback = str(number) if str(number) not in given_on else f"line {number}"
        items.append({**record, "id": given if given is not None else fallback})
    return items


def _parse_line(number: int, line: bytes | None) -> tuple[dict[str, Any], str | None]:
    """The line's record (with an ``error`` if it cannot be checked) and the id it gives."""
    if line is None:
        return {
            "error": f"line {number}: over the {JSONL_LINE_LIMIT}-byte limit for one line"
        }, None
    try:
        record = json.loads(line)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return {"error": f"line {number}: {exc}"}, None
    except RecursionError:
        return {"error": f"line {number}: JSON nested too deeply"}, None
    given = record.get("id") if isinstance(record, dict) else None
    # An id is echoed back; one that cannot be written as UTF-8 is replaced by the line number.
    given = str(given) if given is not None and given != "" and _utf8(str(given)) else None
    if problem := _record_problem(record):
        return {"error": f"line {number}: {problem}"}, given
    return record, given


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
    cache: CacheSettings | None = None,
) -> list[Verdict]:
    async with ReplPool(pool_config) as pool:
        lean = LeanVerifier(pool, verify_config)
        caching = cache.wrap(lean, verify_config) if cache else None
        verifier: Verifier = caching or lean

        async def one(item: dict[str, Any]) -> Verdict:
            verdict = await _verdict(verifier, item)
            emit(item, verdict)
            return verdict

        try:
            return await asyncio.gather(*(one(item) for item in items))
        finally:
            if caching is not None:
                caching.close()
                err.print(caching.stats.line())


async def _verdict(verifier: Verifier, item: dict[str, Any]) -> Verdict:
    """The item's verdict; whatever goes wrong with one item stays that item's verdict
    (but an outage, where no verdict exists, stops the run: ``LeanUnavailable``)."""
    if "error" in item:
        return Verdict(outcome=Outcome.REJECTED, reason=item["error"])
    try:
        return await verifier.check(item["code"], statement=item.get("statement"))
    except LeanUnavailable:
        raise
    except Exception as exc:  # reported as this proof's verdict, never lost
        return Verdict(outcome=Outcome.CRASH, reason=f"stepprover failed on this proof: {exc!r}")


def _print_verdict(verdict: Verdict, label: str = "") -> None:
    """The verdict line in color, then Lean's messages as plain text: no markup, no
    highlighting (a megabyte message must print as fast as it can be written)."""
    console = Console(highlight=False)
    line = Text(label + verdict.outcome.value, style="green" if verdict.proved else "red")
    console.print(*(line, Text(verdict.reason)) if verdict.reason else (line,))
    for m in verdict.messages:
        typer.echo(f"  {m.pos.line}:{m.pos.column} {m.severity}: {m.data}")
