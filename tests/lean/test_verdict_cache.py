"""The verdict cache: keys, what is stored, coalescing, several processes, and a real
LeanVerifier over the stand-in REPL (the stand-in is not Lean)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from stepprover.lean import verdict_cache
from stepprover.lean.outcome import CommandOutcome
from stepprover.lean.pool import ReplPool
from stepprover.lean.toolchain import LeanSetup
from stepprover.lean.verdict_cache import (
    CachingVerifier,
    VerdictStore,
    lean_setup_identity,
    repl_command_identity,
    verdict_key,
)
from stepprover.lean.verify import LeanVerifier, Outcome, Verdict, VerifyConfig
from tests.conftest import REPO, standin_pool_config

SETUP = "lean-setup: test"
REPLY = {"messages": [], "env": 1}
CODE = "import Mathlib\ntheorem t : True := by\n  trivial\n"
STATEMENT = "import Mathlib\ntheorem t : True := by\n"


class FakeVerifier:
    """Counts checks; each answers ``verdict`` once ``release`` is set."""

    def __init__(self, verdict: Verdict | None = None) -> None:
        self.verdict = verdict or Verdict(
            outcome=Outcome.PROVED, reply=REPLY, elapsed=9.0, lean_seconds=2.5
        )
        self.calls = 0
        self.cancelled = 0
        self.release = asyncio.Event()
        self.release.set()
        self.started = asyncio.Event()

    async def check(
        self,
        code: str | bytes,
        *,
        statement: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - see SketchRepl
    ) -> Verdict:
        self.calls += 1
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return self.verdict


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[VerdictStore]:
    opened = VerdictStore.in_dir(tmp_path)
    yield opened
    opened.close()


def cached(inner: Any, store: VerdictStore, config: VerifyConfig | None = None) -> CachingVerifier:
    return CachingVerifier(inner, store, setup=SETUP, config=config or VerifyConfig())


async def test_a_repeated_proof_is_answered_from_the_store(store: VerdictStore) -> None:
    inner = FakeVerifier()
    verifier = cached(inner, store)
    first = await verifier.check(CODE, statement=STATEMENT)
    second = await verifier.check(CODE, statement=STATEMENT)
    assert inner.calls == 1
    assert not first.cached and first.saved_seconds == 0
    assert second.cached and second.outcome is Outcome.PROVED and second.saved_seconds == 2.5
    assert second.lean_seconds == 0 and second.elapsed < 9.0  # this call's own time
    assert second.reply == REPLY
    assert (verifier.stats.hits, verifier.stats.misses, verifier.stats.saved_seconds) == (1, 1, 2.5)


async def test_the_store_outlives_the_process_that_wrote_it(tmp_path: Path) -> None:
    first = VerdictStore.in_dir(tmp_path)
    await cached(FakeVerifier(), first).check(CODE, statement=STATEMENT)
    first.close()
    again = VerdictStore.in_dir(tmp_path)
    inner = FakeVerifier()
    try:
        assert (await cached(inner, again).check(CODE, statement=STATEMENT)).cached
    finally:
        again.close()
    assert inner.calls == 0


class WiderConfig(VerifyConfig):
    """A future setting nobody listed: it must be part of the key by default."""

    allow_extra_commands: frozenset[str] = frozenset()


def key(
    code: str | bytes = CODE,
    statement: str | None = STATEMENT,
    setup: str = SETUP,
    config: VerifyConfig | None = None,
) -> str:
    return verdict_key(code, statement, setup=setup, config=config or VerifyConfig())


@pytest.mark.parametrize(
    "changed",
    [
        lambda: key(code=CODE.replace("trivial", "simp")),
        lambda: key(code=CODE.replace("import Mathlib", "import Mathlib\nimport Aesop")),  # header
        lambda: key(statement=STATEMENT.replace("True", "1 = 1")),
        lambda: key(statement=None),
        lambda: key(statement=""),
        lambda: key(setup="lean-setup: other"),
        lambda: key(config=VerifyConfig(allowed_axioms=frozenset({"propext", "Quot.sound"}))),
        lambda: key(config=VerifyConfig(max_code_bytes=10)),
        lambda: key(config=WiderConfig(allow_extra_commands=frozenset({"elab"}))),
    ],
    ids=[
        "proof",
        "header",
        "statement",
        "no-statement",
        "empty-statement",
        "setup",
        "axioms",
        "size-limit",
        "new-config-field",
    ],
)
def test_every_component_changes_the_key(changed: Callable[[], str]) -> None:
    assert changed() != key()


def test_rules_version_changes_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    before = key()
    monkeypatch.setattr(verdict_cache, "RULES_VERSION", "bumped")
    assert key() != before


def test_settings_that_cannot_change_a_verdict_keep_the_key() -> None:
    assert key(config=VerifyConfig(timeout=1.0, retry_on_crash=False)) == key()
    assert key(code=CODE.encode()) == key()  # the same bytes, given as bytes


def test_text_moved_between_proof_and_statement_changes_the_key() -> None:
    # the parts are length-prefixed: shifting the boundary between them is another check
    assert key(code="ab", statement="c") != key(code="a", statement="bc")
    assert key(code="a", statement="") != key(code="a", statement=None)
    assert key(code="-", statement=None) != key(code="", statement="")


def test_axiom_set_order_does_not_matter_across_processes() -> None:
    # Set iteration order depends on PYTHONHASHSEED: the key must not.
    script = textwrap.dedent("""
        from stepprover.lean.verdict_cache import verdict_key
        from stepprover.lean.verify import VerifyConfig
        print(verdict_key("x", None, setup="s", config=VerifyConfig()))
    """)
    keys = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in range(6)
    }
    assert len(keys) == 1


@pytest.mark.parametrize(
    ("verdict", "stored"),
    [
        (Verdict(outcome=Outcome.PROVED, reply=REPLY), True),
        (Verdict(outcome=Outcome.LEAN_ERROR, reason="linarith failed", reply=REPLY), True),
        (Verdict(outcome=Outcome.SORRY, reply=REPLY), True),
        (
            Verdict(outcome=Outcome.REJECTED, reason="depends on disallowed axioms", reply=REPLY),
            True,
        ),
        (Verdict(outcome=Outcome.REJECTED, reason="prefilter: elab"), False),  # before Lean ran
        (
            Verdict(outcome=Outcome.LEAN_ERROR, reason="imports refused at warm-up"),
            False,
        ),  # no reply
        (Verdict(outcome=Outcome.TIMEOUT, reason="no reply within 300 s"), False),
        (Verdict(outcome=Outcome.CRASH, reason="exited", reply={"message": "x"}), False),
    ],
    ids=[
        "proved",
        "lean_error",
        "sorry",
        "rejected-after-lean",
        "rejected-before-lean",
        "lean_error-without-reply",
        "timeout",
        "crash",
    ],
)
async def test_only_leans_own_verdicts_are_stored(
    store: VerdictStore, verdict: Verdict, stored: bool
) -> None:
    inner = FakeVerifier(verdict)
    verifier = cached(inner, store)
    await verifier.check(CODE, statement=STATEMENT)
    again = await verifier.check(CODE, statement=STATEMENT)
    assert store.count() == int(stored)
    assert inner.calls == (1 if stored else 2)
    assert again.cached is stored and again.outcome is verdict.outcome


async def test_checks_in_flight_are_coalesced(store: VerdictStore) -> None:
    inner = FakeVerifier()
    inner.release.clear()
    verifier = cached(inner, store)
    callers = [asyncio.create_task(verifier.check(CODE, statement=STATEMENT)) for _ in range(5)]
    await inner.started.wait()
    inner.release.set()
    verdicts = await asyncio.gather(*callers)
    assert inner.calls == 1
    assert [v.cached for v in verdicts].count(False) == 1
    assert all(v.outcome is Outcome.PROVED for v in verdicts)
    assert (verifier.stats.coalesced, verifier.stats.misses) == (4, 1)


async def test_cancelling_one_caller_leaves_the_others_waiting(store: VerdictStore) -> None:
    inner = FakeVerifier()
    inner.release.clear()
    verifier = cached(inner, store)
    first = asyncio.create_task(verifier.check(CODE, statement=STATEMENT))
    others = [asyncio.create_task(verifier.check(CODE, statement=STATEMENT)) for _ in range(2)]
    await inner.started.wait()
    first.cancel()  # the caller that started the check
    with pytest.raises(asyncio.CancelledError):
        await first
    inner.release.set()
    verdicts = await asyncio.gather(*others)
    assert inner.calls == 1 and inner.cancelled == 0
    assert all(v.proved and v.cached for v in verdicts)
    assert store.count() == 1


async def test_cancelling_every_caller_cancels_the_check(store: VerdictStore) -> None:
    inner = FakeVerifier()
    inner.release.clear()
    verifier = cached(inner, store)
    callers = [asyncio.create_task(verifier.check(CODE, statement=STATEMENT)) for _ in range(2)]
    await inner.started.wait()
    for caller in callers:
        caller.cancel()
    await asyncio.gather(*callers, return_exceptions=True)
    for _ in range(3):
        await asyncio.sleep(0)
    assert inner.cancelled == 1
    inner.release.set()
    assert not (await verifier.check(CODE, statement=STATEMENT)).cached  # a fresh check
    assert inner.calls == 2


async def test_a_longer_timeout_does_not_join_a_shorter_check(store: VerdictStore) -> None:
    inner = FakeVerifier(Verdict(outcome=Outcome.TIMEOUT, reason="no reply within 1 s"))
    inner.release.clear()
    verifier = cached(inner, store)
    short = asyncio.create_task(verifier.check(CODE, timeout=1.0))
    long = asyncio.create_task(verifier.check(CODE, timeout=600.0))
    await inner.started.wait()
    inner.release.set()
    await asyncio.gather(short, long)
    assert inner.calls == 2


async def test_an_exception_reaches_every_caller_and_is_not_stored(store: VerdictStore) -> None:
    class Failing(FakeVerifier):
        async def check(
            self,
            code: str | bytes,
            *,
            statement: str | None = None,
            timeout: float | None = None,  # noqa: ASYNC109 - see SketchRepl
        ) -> Verdict:
            self.calls += 1
            await asyncio.sleep(0)
            raise ConnectionError("service unreachable")

    inner = Failing()
    verifier = cached(inner, store)
    results = await asyncio.gather(
        *(verifier.check(CODE) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results) and inner.calls == 1
    assert store.count() == 0


async def test_a_failing_store_costs_a_miss_not_a_verdict(store: VerdictStore) -> None:
    import sqlite3

    async def broken(key: str) -> None:
        raise sqlite3.OperationalError("database is locked")

    store.get = broken  # type: ignore[method-assign]
    inner = FakeVerifier()
    verdict = await cached(inner, store).check(CODE)
    assert verdict.proved and not verdict.cached and inner.calls == 1


@pytest.mark.parametrize("spoil", ["not-a-folder", "not-a-database"])
async def test_an_unusable_store_turns_the_cache_off_not_the_check(
    tmp_path: Path, spoil: str
) -> None:
    if spoil == "not-a-folder":
        folder = tmp_path / "file"
        folder.write_text("x")
    else:
        folder = tmp_path
        (folder / "verdicts.sqlite").write_bytes(b"this is not SQLite" * 100)
    store = VerdictStore.in_dir(folder)
    inner = FakeVerifier()
    verifier = cached(inner, store)
    try:
        verdicts = [await verifier.check(CODE) for _ in range(2)]
    finally:
        store.close()
    assert all(v.proved and not v.cached for v in verdicts) and inner.calls == 2


WRITER = textwrap.dedent("""
    import asyncio, sys, time
    from pathlib import Path
    from stepprover.lean.verdict_cache import VerdictStore
    from stepprover.lean.verify import Outcome, Verdict

    folder, first, last, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    while not go.exists():
        time.sleep(0.01)
    async def main():
        store = VerdictStore.in_dir(folder)
        for i in range(first, last):
            verdict = Verdict(outcome=Outcome.PROVED, reason=str(i), reply={"env": i})
            await store.put(f"key-{i}", verdict)
            assert (await store.get(f"key-{i}")).reason == str(i)
        # wait (by progress) until the other process's verdicts are visible too
        for _ in range(100_000):
            if store.count() == 300:
                break
            time.sleep(0.01)
        found = [await store.get(f"key-{i}") for i in range(300)]
        print(sum(v is not None and v.reason == str(i) for i, v in enumerate(found)))
        store.close()
    asyncio.run(main())
""")


def test_two_processes_share_one_store(tmp_path: Path) -> None:
    go = tmp_path / "go"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), str(a), str(b), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for a, b in ((0, 200), (100, 300))
    ]  # 100 keys written by both
    go.touch()
    outputs = [p.communicate(timeout=100) for p in procs]
    for proc, (out, errors) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, errors
        assert out.strip() == "300"
    import sqlite3

    with sqlite3.connect(tmp_path / "verdicts.sqlite") as db:  # readers never block the writer
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_setup_identities(tmp_path: Path) -> None:
    assert lean_setup_identity(LeanSetup()) != lean_setup_identity(LeanSetup(mathlib_rev="v4.24.0"))
    script = tmp_path / "repl.py"
    script.write_text("print()\n")
    command = f"{sys.executable} {script} --flag"
    before = repl_command_identity(command)
    assert repl_command_identity(command) == before
    assert repl_command_identity(command + " --other") != before
    script.write_text("print('rebuilt')\n")  # size (and mtime) change
    assert repl_command_identity(command) != before


class CountingPool:
    """The pool seen by the verifier, counting the commands it is given."""

    def __init__(self, pool: ReplPool) -> None:
        self.pool = pool
        self.runs = 0

    async def run_command(
        self,
        imports: str,
        cmd: str,
        timeout: float,  # noqa: ASYNC109 - see SketchRepl
        *,
        trusted: bool = False,
    ) -> CommandOutcome:
        self.runs += 1
        return await self.pool.run_command(imports, cmd, timeout, trusted=trusted)


async def test_over_a_lean_verifier_each_distinct_proof_reaches_the_pool_once(
    store: VerdictStore, script_file: Callable[[Any], str]
) -> None:
    axioms = {
        "severity": "info",
        "pos": {"line": -2, "column": 0},
        "endPos": {"line": -2, "column": 1},
        "data": "'t' does not depend on any axioms",
    }
    config = standin_pool_config(
        "--script", script_file([["#print axioms", {"messages": [axioms]}]])
    )
    async with ReplPool(config) as pool:
        counting = CountingPool(pool)
        verifier = cached(LeanVerifier(counting, VerifyConfig(timeout=10)), store)  # type: ignore[arg-type]
        proofs = [
            CODE,
            CODE.replace("trivial", "exact True.intro"),
            CODE,
            CODE,
            "theorem t : True := by\n  elab",
        ]
        verdicts = await asyncio.gather(*(verifier.check(p) for p in proofs))
        assert [v.outcome for v in verdicts] == [Outcome.PROVED] * 4 + [Outcome.REJECTED]
        assert (
            counting.runs == 2
        )  # two distinct proofs reached Lean; the prefilter stopped the last
        assert (await verifier.check(proofs[1])).cached
        assert counting.runs == 2


async def test_lean_seconds_leave_out_the_wait_for_a_worker(
    script_file: Callable[[Any], str],
) -> None:
    axioms = {
        "severity": "info",
        "pos": {"line": -2, "column": 0},
        "endPos": {"line": -2, "column": 1},
        "data": "'t' does not depend on any axioms",
    }
    config = standin_pool_config(
        "--script",
        script_file([["#print axioms", {"messages": [axioms]}]]),
        "--delay",
        "0.05",
        workers=1,
    )
    async with ReplPool(config) as pool:
        await pool.warm("import Mathlib")
        verifier = LeanVerifier(pool, VerifyConfig(timeout=10))
        verdicts = await asyncio.gather(
            *(verifier.check(CODE.replace("trivial", f"trivial -- {i}")) for i in range(3))
        )
    assert all(v.proved and v.lean_seconds >= 0.05 for v in verdicts)
    # one worker: the last one served waited for the two other checks (each >= 50 ms of
    # Lean time), and its own Lean time leaves that wait out
    last = max(verdicts, key=lambda v: v.elapsed)
    assert last.elapsed - last.lean_seconds >= 0.05
