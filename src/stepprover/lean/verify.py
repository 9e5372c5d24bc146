"""Verdicts on whole proofs: Lean's answer plus the integrity checks around it.

A proof counts only if, in this order:

1. it is UTF-8 text under the size limit and not empty;
2. the prefilter (``prefilter``, ``allowlists``) refuses nothing in it: only
   allow-listed commands, attributes and options, balanced scopes, no meta code;
3. Lean reports no error and no sorry in the proof's own lines;
4. with a statement: the proof declares the statement's theorem (same fully
   resolved name), and Lean finds its type alpha-equivalent (``Expr.eqv``: equal up
   to bound-variable names and binder annotations) to the type of the statement's
   theorem, elaborated from the statement's own text *before* the proof in the same
   command, so nothing the proof defines can change how the statement reads;
5. ``#print axioms`` of the theorem (without a statement: of every theorem and
   lemma the proof declares) lists nothing beyond the allowed axioms (a missing or
   truncated report fails too).

Checks 4 and 5 are commands appended after the proof (the probe); each answer is
read only at its own line, so nothing the proof prints can pose as one.
"""

from __future__ import annotations

import re
import time
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from stepprover.errors import LeanUnavailable
from stepprover.lean.lexer import Kind
from stepprover.lean.outcome import CommandOutcome, CommandStatus
from stepprover.lean.pool import ReplPool, worker_seconds
from stepprover.lean.prefilter import DEFAULT_POLICY, Policy, prefilter
from stepprover.lean.protocol import CommandReply, ErrorReply, Message, Pos, Reply
from stepprover.lean.source import (
    escape_name,
    name_components,
    odd_imports,
    scan,
    split_imports,
    with_sorry,
)
from stepprover.lean.text import invalid_unicode_reason

RULES_VERSION: str = "2026-11-30.2"
"""The version of the verification rules; bump on any change to prefilter, probes or
judging (the allow-lists included). It is part of every verdict-cache key, so a bump
retires every stored verdict."""

DEFAULT_ALLOWED_AXIOMS = frozenset({"propext", "Classical.choice", "Quot.sound"})
SORRY_WARNINGS = ("declaration uses 'sorry'", "declaration uses `sorry`")
REFERENCE_NAME = "stepprover_reference_statement"
"""The statement's theorem is elaborated under this name, before the proof."""
# `#print axioms` (Lean src/Lean/Elab/Print.lean, printAxiomsOf): `'{constName}' depends on
# axioms: {list}` or `'{constName}' does not depend on any axioms`; the list may wrap.
_AXIOMS_LIST = re.compile(r"^'(?P<name>.+)' depends on axioms: \[(?P<axioms>.*)\]$", re.DOTALL)
_NO_AXIOMS = re.compile(r"^'(?P<name>.+)' does not depend on any axioms$", re.DOTALL)
# Lean's parser errors when the proof's last command is unfinished and runs into the probe.
_PARSE_ERROR = re.compile(r"^(unexpected |expected )")


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
    """Wall seconds of this call (waiting for a worker included)."""
    lean_seconds: float = 0.0
    """Seconds Lean workers spent on this check (waiting for a worker excluded)."""
    attempts: int = 1
    reply: dict[str, Any] | None = None
    """The REPL's raw reply to the proof command (with the appended checks)."""
    cached: bool = False
    """Lean did not run for this call: the verdict came from the verdict cache, or from an
    identical check that was in flight at the same time (``lean.verdict_cache``)."""
    saved_seconds: float = 0.0
    """On a cached verdict, the ``lean_seconds`` of the check that computed it: the Lean
    time this call did not spend."""

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
    extra_commands: frozenset[str] = frozenset()
    """Commands allowed beyond ``allowlists.COMMANDS`` (e.g. ``{"def"}``): a deliberate widening."""
    extra_attributes: frozenset[str] = frozenset()
    """Attributes allowed beyond ``allowlists.ATTRIBUTES``: a deliberate widening."""
    extra_options: frozenset[str] = frozenset()
    """Dotted option names allowed beyond ``allowlists.OPTIONS``: a deliberate widening."""

    @property
    def policy(self) -> Policy:
        return Policy(self.extra_commands, self.extra_attributes, self.extra_options)


class SketchRepl(Protocol):
    """Where sketches run (``ReplPool``, ``RemoteLean``, ``RayVerifier``): one command in
    the environment of an import block; what every backend serves, nothing more."""

    async def run_command(self, imports: str, cmd: str, timeout: float) -> CommandOutcome:
        """Run ``cmd`` in the environment of ``imports`` within ``timeout`` seconds."""
        ...


class Verifier(Protocol):
    """Anything that turns a proof into a verdict (local pool, HTTP service, Ray)."""

    async def check(
        self, code: str | bytes, *, statement: str | None = None, timeout: float | None = None
    ) -> Verdict: ...


class Plan(BaseModel):
    """The command sent to Lean for one proof, and where each part of it lies."""

    model_config = ConfigDict(frozen=True)

    imports: str
    command: str
    names: list[str]
    """Fully resolved names whose axioms are printed, in probe order."""
    reference_lines: int
    """Lines of the statement's block before the proof (0 without a statement)."""
    probe_line: int
    """First line of the probe in ``command`` (1-based)."""
    compares_statement: bool
    line_shift: int
    """Add to a line of ``command`` to get the line in the submitted file."""


def plan(code: str, statement: str | None, policy: Policy = DEFAULT_POLICY) -> Plan | str:
    """What to send to Lean for ``code`` (imports + proof), or why it is refused before Lean.

    With ``statement`` (header + ``theorem NAME … := by``), the statement's block comes
    first, its theorem renamed ``REFERENCE_NAME`` and completed with ``sorry``, inside a
    ``section``; then the proof, unchanged; then the probe::

        #guard_expr type_of% @_root_.REFERENCE =ₐ type_of% @_root_.NAME   (with a statement)
        #print axioms _root_.NAME                                          (one line a name)
    """
    source = split_imports(code)
    if odd := odd_imports(source.imports):
        return f"imports {', '.join(odd)}: not a plain module name"
    if not source.body.strip():
        return "the proof is empty"
    if findings := prefilter(source.body, line_offset=source.body_line_offset, policy=policy):
        return "; ".join(str(f) for f in findings)
    body = scan(source.body)
    if any(REFERENCE_NAME in name_components(t.text) for t in body.tokens if t.kind is Kind.IDENT):
        # the statement's theorem is proved by `sorry` before the proof: naming it would borrow
        # that sorry (the axioms report catches it too; this refuses it before Lean)
        return f"the proof names {REFERENCE_NAME}, the verifier's copy of the statement"
    declared = body.declarations
    reference = ""
    if statement is not None:
        given = split_imports(statement)
        if given.imports and set(given.imports.splitlines()) != set(source.imports.splitlines()):
            return (
                "the proof's imports differ from the statement's header: "
                f"{source.imports!r} vs {given.imports!r}"
            )
        if problem := statement_problem(statement, policy):
            return problem
        target = scan(given.body).declarations[-1]
        if target.resolved not in {d.resolved for d in declared}:
            return f"the proof does not declare theorem {target.full_name}"
        renamed = (
            given.body[: target.start]
            + f"_root_.{REFERENCE_NAME}"
            + given.body[target.start + len(target.name) :]
        )
        reference = "section\n" + with_sorry(renamed) + "\nend\n\n"
        names = [target.full_name]
    else:
        names = list(dict.fromkeys(d.full_name for d in declared))
        if not names:
            return "the proof declares no theorem to check"
    reference_lines = reference.count("\n")
    probe = _probe(names, compare=statement is not None)
    command = reference + source.body + "\n\n" + probe
    probe_line = reference_lines + source.body.count("\n") + 3  # after a blank line
    return Plan(
        imports=source.imports,
        command=command,
        names=names,
        reference_lines=reference_lines,
        probe_line=probe_line,
        compares_statement=statement is not None,
        line_shift=source.body_line_offset - reference_lines,
    )


def statement_problem(statement: str, policy: Policy = DEFAULT_POLICY) -> str | None:
    """Why ``statement`` (header + ``theorem NAME … := by``) cannot be checked against, whatever
    the proof: the prefilter refuses it, or it declares no theorem. ``None`` if it can."""
    body = split_imports(statement).body
    if findings := prefilter(body, policy=policy):
        return "the given statement is refused: " + "; ".join(str(f) for f in findings)
    if not scan(body).declarations:
        return "the given statement declares no theorem"
    return None


def _probe(names: list[str], *, compare: bool) -> str:
    lines = []
    if compare:
        lines.append(
            f"#guard_expr type_of% @_root_.{REFERENCE_NAME} =ₐ type_of% @_root_.{names[0]}"
        )
    lines += [f"#print axioms _root_.{name}" for name in names]
    return "\n".join(lines) + "\n"


class LeanVerifier:
    """Verifies whole proofs on a ``ReplPool``."""

    def __init__(self, pool: ReplPool, config: VerifyConfig | None = None) -> None:
        self.pool = pool
        self.config = config or VerifyConfig()

    async def check(
        self, code: str | bytes, *, statement: str | None = None, timeout: float | None = None
    ) -> Verdict:
        """Verify ``code`` (imports + proof). With ``statement`` (header + theorem
        ``... := by``), also require that the proof proves exactly that theorem."""
        started = time.monotonic()
        with worker_seconds() as lean:
            verdict = await self._check(code, statement, timeout or self.config.timeout)
        return verdict.model_copy(
            update={"elapsed": time.monotonic() - started, "lean_seconds": sum(lean)}
        )

    async def _check(self, code: str | bytes, statement: str | None, timeout: float) -> Verdict:
        text = proof_text(code, statement, self.config.max_code_bytes)
        if isinstance(text, Verdict):
            return text
        planned = plan(text, statement, self.config.policy)
        if isinstance(planned, str):
            return _rejected(planned)
        result = await self._run_with_retry(planned.imports, planned.command, timeout)
        if isinstance(result, Verdict):
            return result
        reply, attempts = result
        verdict = judge(reply, planned, self.config.allowed_axioms)
        return verdict.model_copy(update={"attempts": attempts})

    async def _run_with_retry(
        self, imports: str, command: str, timeout: float
    ) -> tuple[Reply, int] | Verdict:
        """Lean's reply and the attempts it took; a crash or a worker that could not be
        got is tried once more (on a fresh worker) when ``retry_on_crash``.

        Raises:
            LeanUnavailable: still no worker could be got or reached (an outage is no verdict).
        """
        tries = 2 if self.config.retry_on_crash else 1
        for attempt in range(1, tries + 1):
            # trusted: the proof passed the prefilter, the rest is the verifier's own probe
            outcome = await self.pool.run_command(imports, command, timeout, trusted=True)
            if outcome.ok:
                return outcome.parsed, attempt
            if outcome.status is CommandStatus.TIMEOUT:
                return Verdict(outcome=Outcome.TIMEOUT, reason=outcome.detail, attempts=attempt)
            if outcome.status is CommandStatus.REFUSED:
                return Verdict(outcome=Outcome.LEAN_ERROR, reason=outcome.detail, attempts=attempt)
            if outcome.warmup_timed_out:  # a second warm-up would only wait as long again
                raise LeanUnavailable(outcome.detail)
        if outcome.status is CommandStatus.INFRASTRUCTURE:
            raise LeanUnavailable(outcome.detail)
        return Verdict(outcome=Outcome.CRASH, reason=outcome.detail, attempts=tries)


def judge(
    reply: Reply, planned: Plan, allowed_axioms: frozenset[str] = DEFAULT_ALLOWED_AXIOMS
) -> Verdict:
    """The verdict on Lean's ``reply`` to ``planned.command``."""
    if isinstance(reply, ErrorReply):
        outcome = Outcome.LEAN_ERROR if reply.message.startswith("Lean error") else Outcome.CRASH
        return Verdict(outcome=outcome, reason=reply.message, reply=reply.raw)
    if not isinstance(reply, CommandReply):
        return Verdict(outcome=Outcome.CRASH, reason="unexpected reply kind", reply=reply.raw)
    first_own, probe_line = planned.reference_lines + 1, planned.probe_line
    reference = [m for m in reply.messages if m.pos.line < first_own]
    own = [m for m in reply.messages if first_own <= m.pos.line < probe_line]
    probe = [m for m in reply.messages if m.pos.line >= probe_line]
    messages = [_shift(m, planned.line_shift) for m in own]

    def verdict(outcome: Outcome, reason: str = "", axioms: list[str] | None = None) -> Verdict:
        return Verdict(
            outcome=outcome, reason=reason, messages=messages, axioms=axioms, reply=reply.raw
        )

    if errors := [m for m in reference if m.severity == "error"]:
        return verdict(
            Outcome.REJECTED, f"the given statement does not elaborate: {errors[0].data}"
        )
    if errors := [m for m in own if m.severity == "error"]:
        return verdict(Outcome.LEAN_ERROR, errors[0].data)
    if any(m.data in SORRY_WARNINGS for m in own) or any(
        s.pos is None or first_own <= s.pos.line < probe_line for s in reply.sorries
    ):
        return verdict(Outcome.SORRY, "the proof uses sorry")
    if errors := [m for m in probe if m.severity == "error"]:
        first = errors[0]
        if _PARSE_ERROR.match(first.data):
            return verdict(Outcome.LEAN_ERROR, f"the proof does not parse to its end: {first.data}")
        if planned.compares_statement and first.pos.line == probe_line:
            return verdict(
                Outcome.REJECTED,
                f"theorem {planned.names[0]} does not prove the given statement: {first.data}",
            )
        return verdict(Outcome.REJECTED, f"check failed: {first.data}")
    used: list[str] = []
    axioms_line = probe_line + (1 if planned.compares_statement else 0)
    for offset, name in enumerate(planned.names):
        report = axioms_report(name, [m for m in probe if m.pos.line == axioms_line + offset])
        if isinstance(report, str):
            return verdict(Outcome.REJECTED, report)
        used += [a for a in report if a not in used]
    if "sorryAx" in used:
        return verdict(Outcome.SORRY, "depends on sorryAx", used)
    if bad := sorted(set(used) - allowed_axioms):
        return verdict(Outcome.REJECTED, f"depends on disallowed axioms: {', '.join(bad)}", used)
    return verdict(Outcome.PROVED, axioms=used)


def axioms_report(name: str, messages: list[Message]) -> list[str] | str:
    """The axioms in the one ``#print axioms`` answer among ``messages`` (those at its line),
    or why there is none. Handles primes, guillemets, dots, private names and wrapped lists."""
    answers = [m for m in messages if m.severity == "info"]
    if len(answers) != 1:
        return (
            f"no axioms report for {name}" if not answers else f"several axioms reports for {name}"
        )
    text = " ".join(answers[0].data.split())
    if "⋯" in text:
        return f"the axioms report for {name} is truncated"
    if m := _NO_AXIOMS.match(text):
        axioms: list[str] = []
    elif m := _AXIOMS_LIST.match(text):
        axioms = [escape_name(name_components(a.strip())) for a in _split_list(m["axioms"])]
    else:
        return f"no axioms report for {name}"
    if _public_name(m["name"]) != name_components(name):
        return f"the axioms report names {m['name']}, not {name}"
    return axioms


def _split_list(text: str) -> list[str]:
    """Split ``a, b, «c, d»`` at commas outside guillemets."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    for c in text:
        if c == "," and not quoted:
            items.append("".join(current))
            current = []
            continue
        quoted = quoted or c == "«"
        if c == "»":
            quoted = False
        current.append(c)
    items.append("".join(current))
    return [i for i in items if i.strip()]


def _public_name(printed: str) -> tuple[str, ...]:
    """Name components as printed, a private prefix (``_private.<module>.0.``) removed."""
    components = name_components(printed)
    if components[:1] == ("_private",) and "0" in components:
        components = components[components.index("0") + 1 :]
    return components


def proof_text(code: str | bytes, statement: str | None, max_bytes: int) -> str | Verdict:
    """The proof as text, or the ``rejected`` verdict on input no UTF-8 encoder takes (bytes
    that are not UTF-8, a lone surrogate in the proof or the statement), over ``max_bytes``,
    or holding NUL: every verifier (local, Ray, the service's client) answers it alike."""
    if statement is not None and (reason := invalid_unicode_reason(statement, "the statement")):
        return _rejected(reason)
    if isinstance(code, bytes):
        if len(code) > max_bytes:
            return _rejected(f"the proof is {len(code)} bytes, over the {max_bytes}-byte limit")
        try:
            code = code.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _rejected(f"the proof is not UTF-8 text ({exc.reason} at byte {exc.start})")
    if reason := invalid_unicode_reason(code, "the proof"):
        return _rejected(reason)  # no UTF-8 encoder, Lean's included, takes it
    size = len(code.encode("utf-8"))
    if size > max_bytes:
        return _rejected(f"the proof is {size} bytes, over the {max_bytes}-byte limit")
    if "\x00" in code:
        return _rejected("the proof contains a NUL character")
    return code


def _rejected(reason: str) -> Verdict:
    return Verdict(outcome=Outcome.REJECTED, reason=reason)


def _shift(message: Message, lines: int) -> Message:
    if lines == 0:
        return message

    def move(pos: Pos | None) -> Pos | None:
        return None if pos is None else pos.model_copy(update={"line": pos.line + lines})

    return message.model_copy(update={"pos": move(message.pos), "end_pos": move(message.end_pos)})
