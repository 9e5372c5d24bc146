"""The `--gold` option of `stepprover check` and `stepprover eval`: re-verify accepted
proofs with comparator (see lean.gold and eval.gold)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from stepprover.agent.trajectory import Trajectory
from stepprover.cli.common import err, fail, lean_setup_for
from stepprover.data.problems import Problem
from stepprover.errors import GoldUnavailable
from stepprover.eval.gold import GoldLedger, GoldRechecker, gold_counts, gold_key
from stepprover.eval.metrics import pass1, solve_counts
from stepprover.eval.store import RunStore
from stepprover.lean.gold import GoldChecker, GoldConfig, GoldTools, GoldVerdict
from stepprover.lean.verify import Outcome, Verdict, VerifyConfig

Gold = Annotated[
    bool,
    typer.Option(
        help="Also re-verify each distinct accepted proof with the Lean FRO's comparator "
        "(`stepprover lean setup --with-comparator`)."
    ),
]
GoldTimeout = Annotated[float, typer.Option(help="Seconds per comparator run (with --gold).")]
GoldWorkers = Annotated[
    int, typer.Option(help="comparator runs at once (each loads Mathlib; with --gold).")
]


def gold_checker_or_exit(
    lean_dir: Path | None, verify: VerifyConfig, timeout: float, workers: int = 1
) -> GoldChecker:
    """A checker on the installed comparator with ``verify``'s permitted axioms, or exit 2."""
    try:
        tools = GoldTools.from_setup(lean_setup_for(lean_dir))
        return GoldChecker(
            tools,
            allowed_axioms=verify.allowed_axioms,
            config=GoldConfig(timeout=timeout, workers=workers),
        )
    except GoldUnavailable as exc:
        fail(exc, prefix="--gold:")


OnStored = Callable[[Trajectory], None] | None
"""Called with each sample as soon as it is stored (``eval.runner.evaluate``)."""


async def with_gold(
    checker: GoldChecker | None,
    store: RunStore,
    problems: Sequence[Problem],
    work: Callable[[OnStored], Awaitable[None]],
) -> None:
    """Run ``work`` (the eval) with gold checks starting in the background as accepted
    samples are stored; then check what earlier invocations stored and wait for all of
    them (the eval's REPLs are closed by then). Unfinished checks are cancelled on exit."""
    if checker is None:
        await work(None)
        return
    with GoldLedger(store.path.parent) as ledger:
        rechecker = GoldRechecker(checker, ledger, problems)
        try:
            await work(rechecker.submit)
            rechecker.sweep(store.trajectories())
            if rechecker.pending:
                err.print(f"gold: waiting for {rechecker.pending} comparator checks")
            await rechecker.drain()
        except GoldUnavailable as exc:
            fail(exc, prefix="--gold:")
        finally:
            await rechecker.aclose()


async def gold_check_all(
    checker: GoldChecker, items: list[dict[str, Any]], verdicts: list[Verdict]
) -> list[GoldVerdict | None]:
    """Gold verdicts for the items the fast checks proved (None for the others); each
    distinct (statement, proof) text runs once. An item without a statement cannot be
    compared: its gold verdict is ``rejected`` saying so."""
    by_key: dict[str, asyncio.Task[GoldVerdict]] = {}
    keyed: list[str | None] = []
    for item, verdict in zip(items, verdicts, strict=True):
        statement, code = item.get("statement"), item.get("code")
        if not verdict.proved or not isinstance(statement, str) or code is None:
            keyed.append(None)
            continue
        text = code.decode("utf-8") if isinstance(code, bytes) else code
        key = gold_key(statement, text)
        if key not in by_key:
            by_key[key] = asyncio.create_task(checker.check(statement, text))
        keyed.append(key)
    done = dict(zip(by_key, await asyncio.gather(*by_key.values()), strict=True))
    no_statement = GoldVerdict(
        outcome=Outcome.REJECTED, reason="no statement given: comparator needs the statement"
    )
    return [
        done[key] if key else (no_statement if verdict.proved else None)
        for key, verdict in zip(keyed, verdicts, strict=True)
    ]


def print_gold_summary(
    folder: Path, store: RunStore, problems: list[str], console: Console
) -> None:
    if not GoldLedger.exists(folder):
        return
    with GoldLedger(folder) as ledger:
        gold = ledger.samples()
    results = store.results()
    accepted = [r for r in results if r.solved]
    refused = [
        r
        for r in accepted
        if (rec := gold.get((r.problem, r.sample_index))) is not None
        and rec.outcome is not Outcome.PROVED
    ]
    unchecked = sum(gold.get((r.problem, r.sample_index)) is None for r in accepted)
    console.print(
        f"pass@1 fast checks {pass1(solve_counts(results, problems))}; "
        f"gold (comparator) {pass1(gold_counts(results, problems, gold))}"
    )
    console.print(
        f"gold: {len(refused)} accepted proofs not proved by comparator"
        + (f", {unchecked} not checked yet" if unchecked else "")
        + " (listed by `stepprover report`)"
    )
