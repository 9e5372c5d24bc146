"""Verdicts on whole proofs: Lean's answer plus the integrity checks around it.

A proof counts only if, in this order:

1. it is UTF-8 text under the size limit and not empty;
2. the prefilter finds nothing that could fool the later checks;
3. Lean reports no error and no sorry;
4. the theorem's statement, printed with ``pp.all`` in the proof's own
   environment, equals the given statement's, printed the same way in a clean
   environment of the statement's own header (so redefined notation or
   instances before the theorem cannot change what was proved);
5. ``#print axioms`` of the theorem lists nothing beyond the allowed axioms
   (a missing report fails too).

Checks 4 and 5 are commands appended after the proof; only messages at their
lines are read as their answers, so nothing the proof prints can pose as them.
"""

from __future__ import annotations

import re
import time
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from stepprover.errors import ReplError, ReplStartError, ReplTimeout
from stepprover.lean.pool import ReplPool
from stepprover.lean.prefilter import prefilter
from stepprover.lean.protocol import CommandReply, CommandRequest, ErrorReply, Message, Pos, Reply
from stepprover.lean.source import declared_theorems, split_imports, with_sorry

DEFAULT_ALLOWED_AXIOMS = frozenset({"propext", "Classical.choice", "Quot.sound"})
SORRY_WARNINGS = ("declaration uses 'sorry'", "declaration uses `sorry`")
_AXIOMS_LIST = re.compile(r"^'(?P<name>[^']+)' depends on axioms: \[(?P<axioms>[^\]]*)\]$")
_NO_AXIOMS = re.compile(r"^'(?P<name>[^']+)' does not depend on any axioms$")


class Outcome(StrEnum):
    PROVED = "proved"
    LEAN_ERROR = "lean_error"
    SORRY = "sorry"
    TIMEOUT = "timeout"
    CRASH = "crash"
    REJECTED = "rejected"


class Verdict(BaseModel):
    """What the verifier concluded about one proof."""

    model_config = ConfigDict(frozen=True)

    outcome: Outcome
    reason: str = ""
    """Why it is not ``proved`` (empty when it is)."""
    messages: list[Message] = Field(default_factory=list)
    """Lean's messages about the proof, positions relative to the whole submitted text."""
    axioms: list[str] | None = None
    elapsed: float = 0.0
    attempts: int = 1
    reply: dict[str, Any] | None = None
    """The REPL's raw reply to the proof command (with the appended checks)."""

    @property
    def proved(self) -> bool:
        return self.outcome is Outcome.PROVED


class VerifyConfig(BaseModel):
    """Limits and policy of whole-proof verification."""

    model_config = ConfigDict(frozen=True)

    timeout: float = 300.0
    """Wall-clock seconds for one proof (the REPL has no timeout of its own)."""
    max_code_bytes: int = 1_000_000
    allowed_axioms: frozenset[str] = DEFAULT_ALLOWED_AXIOMS
    retry_on_crash: bool = True
    """Run a proof lost to a crash once more, on another worker, before reporting ``crash``."""


class Verifier(Protocol):
    """Anything that turns a proof into a verdict (local pool, HTTP service, Ray)."""

    async def check(
        self, code: str | bytes, *, statement: str | None = None, timeout: float | None = None
    ) -> Verdict: ...


class LeanVerifier:
    """Verifies whole proofs on a ``ReplPool``."""

    def __init__(self, pool: ReplPool, config: VerifyConfig | None = None) -> None:
        self.pool = pool
        self.config = config or VerifyConfig()
        self._reference_types: dict[str, str] = {}

    async def check(
        self, code: str | bytes, *, statement: str | None = None, timeout: float | None = None
    ) -> Verdict:
        """Verify ``code`` (imports + proof). With ``statement`` (header + theorem
        ``... := by``), also require that the proof proves exactly that theorem."""
        started = time.monotonic()
        verdict = await self._check(code, statement, timeout or self.config.timeout)
        return verdict.model_copy(update={"elapsed": time.monotonic() - started})

    async def _check(self, code: str | bytes, statement: str | None, timeout: float) -> Verdict:
        text = _as_text(code, self.config.max_code_bytes)
        if isinstance(text, Verdict):
            return text
        source = split_imports(text)
        if not source.body.strip():
            return _rejected("the proof is empty")
        if findings := prefilter(source.body):
            return _rejected("; ".join(str(f) for f in findings))
        if statement is not None:
            names = declared_theorems(split_imports(statement).body)[-1:]
            if not names:
                return _rejected("the given statement declares no theorem")
            if names[0] not in declared_theorems(source.body):
                return _rejected(f"the proof does not declare theorem {names[0]}")
        else:
            names = declared_theorems(source.body)
            if not names:
                return _rejected("the proof declares no theorem to check")
        probe = _probe(names, print_types=statement is not None)
        probe_line = source.body.count("\n") + 3  # the probe starts after a blank line
        command = source.body + "\n\n" + probe
        result = await self._run_with_retry(source.imports, command, timeout)
        if isinstance(result, Verdict):
            return result
        reply, attempts = result
        verdict = self._judge(reply, names, probe_line, source.body_line_offset)
        if verdict.outcome is Outcome.PROVED and statement is not None:
            verdict = await self._compare_statement(verdict, reply, names[0], probe_line, statement)
        return verdict.model_copy(update={"attempts": attempts})

    async def _run_with_retry(
        self, imports: str, command: str, timeout: float
    ) -> tuple[Reply, int] | Verdict:
        tries = 2 if self.config.retry_on_crash else 1
        failure: ReplError | None = None
        for attempt in range(1, tries + 1):
            try:
                return await self.pool.run(imports, CommandRequest(cmd=command), timeout), attempt
            except ReplTimeout as exc:
                return Verdict(outcome=Outcome.TIMEOUT, reason=str(exc), attempts=attempt)
            except ReplStartError as exc:
                if exc.refused:
                    return Verdict(outcome=Outcome.LEAN_ERROR, reason=str(exc), attempts=attempt)
                failure = exc
                if exc.timed_out:
                    return Verdict(outcome=Outcome.CRASH, reason=str(exc), attempts=attempt)
            except ReplError as exc:
                failure = exc
        return Verdict(outcome=Outcome.CRASH, reason=str(failure), attempts=tries)

    def _judge(self, reply: Reply, names: list[str], probe_line: int, offset: int) -> Verdict:
        if isinstance(reply, ErrorReply):
            outcome = Outcome.LEAN_ERROR if reply.message.startswith("Lean error") else Outcome.CRASH
            return Verdict(outcome=outcome, reason=reply.message, reply=reply.raw)
        if not isinstance(reply, CommandReply):
            return Verdict(outcome=Outcome.CRASH, reason="unexpected reply kind", reply=reply.raw)
        own = [m for m in reply.messages if m.pos.line < probe_line]
        probe = [m for m in reply.messages if m.pos.line >= probe_line]
        messages = [_shift(m, offset) for m in own]

        def verdict(outcome: Outcome, reason: str = "", axioms: list[str] | None = None) -> Verdict:
            return Verdict(
                outcome=outcome, reason=reason, messages=messages, axioms=axioms, reply=reply.raw
            )

        if errors := [m for m in own if m.severity == "error"]:
            return verdict(Outcome.LEAN_ERROR, errors[0].data)
        if any(m.data in SORRY_WARNINGS for m in own) or any(
            s.pos is None or s.pos.line < probe_line for s in reply.sorries
        ):
            return verdict(Outcome.SORRY, "the proof uses sorry")
        if probe_errors := [m for m in probe if m.severity == "error"]:
            return verdict(Outcome.REJECTED, f"check failed: {probe_errors[0].data}")
        used: list[str] = []
        for name in names:
            axioms = _axioms_of(name, probe)
            if axioms is None:
                return verdict(Outcome.REJECTED, f"no axioms report for {name}")
            used += axioms
        if "sorryAx" in used:
            return verdict(Outcome.SORRY, "depends on sorryAx", used)
        if bad := sorted(set(used) - self.config.allowed_axioms):
            return verdict(Outcome.REJECTED, f"depends on disallowed axioms: {', '.join(bad)}", used)
        return verdict(Outcome.PROVED, axioms=used)

    async def _compare_statement(
        self, verdict: Verdict, reply: Reply, name: str, probe_line: int, statement: str
    ) -> Verdict:
        assert isinstance(reply, CommandReply)
        proved_type = _printed_type([m for m in reply.messages if m.pos.line >= probe_line])
        expected = await self._reference_type(statement, name)
        if isinstance(expected, Verdict):
            return expected
        if proved_type != expected:
            return verdict.model_copy(
                update={
                    "outcome": Outcome.REJECTED,
                    "reason": f"theorem {name} does not prove the given statement: "
                    f"proved {proved_type!r}, expected {expected!r}",
                }
            )
        return verdict

    async def _reference_type(self, statement: str, name: str) -> str | Verdict:
        """The statement's ``pp.all`` type, elaborated under its own header (cached)."""
        if statement in self._reference_types:
            return self._reference_types[statement]
        source = split_imports(statement)
        probe_line = source.body.count("\n") + 3
        command = with_sorry(source.body) + "\n\n" + _probe([name], print_types=True, axioms=False)
        result = await self._run_with_retry(source.imports, command, self.config.timeout)
        if isinstance(result, Verdict):
            return result.model_copy(update={"reason": "the statement itself: " + result.reason})
        reply, _ = result
        printed = (
            _printed_type([m for m in reply.messages if m.pos.line >= probe_line])
            if isinstance(reply, CommandReply)
            else None
        )
        if printed is None:
            return Verdict(
                outcome=Outcome.REJECTED,
                reason=f"the given statement does not elaborate: {reply.raw}",
            )
        self._reference_types[statement] = printed
        return printed


def _as_text(code: str | bytes, max_bytes: int) -> str | Verdict:
    if isinstance(code, bytes):
        if len(code) > max_bytes:
            return _rejected(f"the proof is {len(code)} bytes, over the {max_bytes}-byte limit")
        try:
            code = code.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _rejected(f"the proof is not UTF-8 text ({exc.reason} at byte {exc.start})")
    size = len(code.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        return _rejected(f"the proof is {size} bytes, over the {max_bytes}-byte limit")
    if "\x00" in code:
        return _rejected("the proof contains a NUL character")
    return code


def _rejected(reason: str) -> Verdict:
    return Verdict(outcome=Outcome.REJECTED, reason=reason)


def _probe(names: list[str], *, print_types: bool, axioms: bool = True) -> str:
    lines: list[str] = []
    for name in names:
        if print_types:
            lines += ["set_option pp.all true in", f"#check @{name}"]
        if axioms:
            lines.append(f"#print axioms {name}")
    return "\n".join(lines) + "\n"


def _axioms_of(name: str, probe: list[Message]) -> list[str] | None:
    for message in probe:
        text = " ".join(message.data.split())
        if (m := _NO_AXIOMS.match(text)) and _same_name(m["name"], name):
            return []
        if (m := _AXIOMS_LIST.match(text)) and _same_name(m["name"], name):
            return [a.strip() for a in m["axioms"].split(",") if a.strip()]
    return None


def _printed_type(probe: list[Message]) -> str | None:
    """The ``#check`` answer: the one info message of the probe that is not an axioms report."""
    for message in probe:
        text = " ".join(message.data.split())
        if message.severity == "info" and not (_NO_AXIOMS.match(text) or _AXIOMS_LIST.match(text)):
            return message.data
    return None


def _same_name(printed: str, name: str) -> bool:
    return printed == name or printed.endswith("." + name)


def _shift(message: Message, lines: int) -> Message:
    if lines == 0:
        return message

    def move(pos: Pos | None) -> Pos | None:
        return None if pos is None else pos.model_copy(update={"line": pos.line + lines})

    return message.model_copy(update={"pos": move(message.pos), "end_pos": move(message.end_pos)})
