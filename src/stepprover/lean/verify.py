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
   command, so nothing the proof defines can change how the statement reads. The two
   constants must have as many universe parameters, and the proof's are renamed, by
   position, to the statement's before comparing (``statement_check``);
5. ``#print axioms`` of the theorem (without a statement: of every theorem and
   lemma the proof declares) lists nothing beyond the allowed axioms (a missing or
   truncated report fails too).

Checks 4 and 5 are commands appended after the proof (the probe); each answer is
read only at its own line, so nothing the proof prints can pose as one.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from stepprover.errors import LeanUnavailable
from stepprover.lean import answers
from stepprover.lean.lean_texts import (
    AXIOMS_LIST,
    NO_AXIOMS,
    PARSE_ERROR,
    SORRY_WARNINGS,
    STATEMENT_MISMATCH,
    UNKNOWN_ENVIRONMENT,
)
from stepprover.lean.lexer import Kind
from stepprover.lean.outcome import CommandOutcome, CommandStatus
from stepprover.lean.pool import ReplPool, worker_seconds
from stepprover.lean.prefilter import DEFAULT_POLICY, Finding, Policy, prefilter, prefilter_scan
from stepprover.lean.protocol import CommandReply, ErrorReply, Message, Pos, Reply
from stepprover.lean.source import (
    THEOREM_KEYWORDS,
    command_start,
    escape_name,
    name_components,
    odd_imports,
    scan,
    skip_modifiers,
    split_imports,
    with_sorry,
)
from stepprover.lean.text import invalid_unicode_reason

RULES_VERSION: str = "2026-12-04.3"
"""The version of the verification rules; bump on any change to prefilter, probes or
judging (the allow-lists included). It is part of every verdict-cache key, so a bump
retires every stored verdict."""

DEFAULT_ALLOWED_AXIOMS = frozenset({"propext", "Classical.choice", "Quot.sound"})
REFERENCE_NAME = "stepprover_reference_statement"
"""The prefix of the name the statement's theorem is elaborated under, before the proof: each
check adds a fresh random suffix, and a proof that mentions the prefix anywhere (code, string,
comment) is refused, so no proof can name the sorried copy."""


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
    prefilter_timeout: float = 10.0
    """Seconds for reading the proof before Lean (off the event loop); past them it is refused.
    Any input under ``max_code_bytes`` is read in well under a second
    (``benchmarks/prefilter_worst_case.py``)."""
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
    the environment of an import block; what every backend serves, nothing more.

    ``timeout`` (here, in ``Verifier.check`` and down to ``ReplProcess.send``) is the
    request's budget of Lean time, part of the request: it travels to the service, a Ray
    actor or the REPL's watchdog, which stops Lean when it runs out and answers with a
    timeout outcome. A cancel scope around the call (what ruff's ASYNC109 asks for) could
    neither cross those boundaries nor turn into that answer, so ASYNC109 is silenced on
    these parameters."""

    async def run_command(self, imports: str, cmd: str, timeout: float) -> CommandOutcome:  # noqa: ASYNC109 - see SketchRepl
        """Run ``cmd`` in the environment of ``imports`` within ``timeout`` seconds."""
        ...


class Verifier(Protocol):
    """Anything that turns a proof into a verdict (local pool, HTTP service, Ray)."""

    async def check(
        self,
        code: str | bytes,
        *,
        statement: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - see SketchRepl
    ) -> Verdict: ...


class Plan(BaseModel):
    """The command sent to Lean for one proof, and where each part of it lies."""

    model_config = ConfigDict(frozen=True)

    imports: str
    command: str
    names: list[str]
    """Fully resolved names whose axioms are printed, in probe order."""
    reference_lines: int
    """Lines of the statement's block (0 without a statement)."""
    reference_start: int = 1
    """First line of the statement's block in ``command`` (after the statement's preamble
    when the proof carries it, else 1)."""
    probe_line: int
    """First line of the probe in ``command`` (1-based)."""
    compares_statement: bool
    answer_checks: int = 0
    """Probe lines after the statement comparison that check the proof's answer
    definitions (``answers``)."""
    line_shift: int
    """Add to a line of ``command`` after the statement's block to get the line in the
    submitted file (before the block, add ``reference_lines`` more)."""
    reference_name: str = REFERENCE_NAME
    """The name of the statement's sorried copy in ``command`` (fresh for each plan)."""


def plan(
    code: str,
    statement: str | None,
    policy: Policy = DEFAULT_POLICY,
    *,
    deadline: float | None = None,
    reference_name: str | None = None,
) -> Plan | str:
    """What to send to Lean for ``code`` (imports + proof), or why it is refused before Lean.

    With ``statement`` (header + ``theorem NAME … := by``), the statement's block comes
    first, its theorem renamed ``REFERENCE_NAME`` and completed with ``sorry``, inside a
    ``section``; then the proof, unchanged; then the probe::

        #eval … ``_root_.REFERENCE … ``_root_.NAME …   (with a statement: statement_check)
        #print axioms _root_.NAME                     (one line a name)

    A statement's answer definitions (``answers``) may be given by the proof: the
    reference theorem takes them as variables, the comparison applies it to the proof's
    definitions (``#guard_expr``), and the probe checks them after the comparison
    (``Plan.answer_checks`` lines).

    The statement is trusted as given (the user's or the benchmark's): the allow-list judges
    the proof only. A proof that begins with the statement's own preamble (what precedes its
    theorem, e.g. a ``def`` the theorem is about) has that preamble taken as the statement's;
    the reference is then elaborated right after it, so the preamble is not declared twice
    (not with answer definitions: there the reference stands first, taking them as variables).
    The proof runs in the header's environment when every module it imports is in the
    header (``import Mathlib`` under ``import Mathlib\nimport Aesop``); a module beyond the
    header is refused: the statement was posed under its header.

    ``REFERENCE`` is ``REFERENCE_NAME`` with a random suffix (``reference_name`` fixes it).
    ``deadline`` (a ``time.monotonic()`` value) bounds the reading; past it, refused.
    """
    if REFERENCE_NAME in code:
        # the statement's theorem is proved by `sorry` before the proof: naming it would borrow
        # that sorry (the axioms report catches it too; this refuses it before Lean, wherever
        # it is written, since a comment or string could turn into code in another reading)
        return f"the proof mentions {REFERENCE_NAME}, the verifier's copy of the statement"
    reference_name = reference_name or f"{REFERENCE_NAME}_{secrets.token_hex(8)}"
    source = split_imports(code)
    if source.problem:
        return f"the proof's header: {source.problem}"
    slots: list[answers.AnswerSlot] = []
    if statement is not None:
        found = _answer_slots(statement)
        if isinstance(found, str):
            return found
        slots = found
        policy = policy.with_answer_slots(s.name for s in slots)
    if odd := odd_imports(source.imports):
        return f"imports {', '.join(odd)}: not a plain module name"
    if not source.body.strip():
        return "the proof is empty"
    imports = source.imports
    given = split_imports(statement) if statement is not None else None
    if given is not None:
        if given.problem:
            return f"the given statement's header: {given.problem}"
        if odd := odd_imports(given.imports):
            return f"the given statement imports {', '.join(odd)}: not a plain module name"
        if given.modules:
            if beyond := sorted(set(source.modules) - set(given.modules)):
                return (
                    f"the proof imports {', '.join(beyond)}, beyond the statement's header "
                    f"({', '.join(dict.fromkeys(given.modules))}): the statement was posed "
                    "under its header"
                )
            imports = given.imports
    body_text, cut = source.body, 0
    statement_body = given.body if given is not None else ""
    preamble, theorem_text = _statement_parts(statement_body) if given is not None else ("", "")
    if preamble and not slots and (cut := _after_preamble(body_text, preamble)) > 0:
        checked, checked_offset = body_text[cut:], body_text.count("\n", 0, cut)
    else:
        cut, checked, checked_offset = 0, body_text, 0
    findings, body = prefilter_scan(
        checked,
        line_offset=source.body_line_offset + checked_offset,
        policy=policy,
        imports=imports,
        deadline=deadline,
    )
    if findings:
        return _summary(findings)
    declared = body.declarations
    before, after = "", body_text
    if given is not None:
        if problem := statement_problem(statement_body):
            return problem
        target = scan(statement_body, deadline=deadline).declarations[-1]
        if target.resolved not in {d.resolved for d in declared}:
            return f"the proof does not declare theorem {target.full_name}"
        if slots and slots[-1].end > target.start:
            return "the given statement defines an answer after its theorem"
        renamed = (
            statement_body[: target.start]
            + f"_root_.{reference_name}"
            + statement_body[target.start + len(target.name) :]
        )
        for index, slot in reversed(list(enumerate(slots, start=1))):
            renamed = (
                renamed[: slot.start]
                + answers.reference_text(slot, index, reference_name)
                + renamed[slot.end :]
            )
        if cut:  # the proof carries the preamble: only the theorem goes into the reference
            renamed = renamed[len(statement_body) - len(theorem_text) :]
            before, after = body_text[:cut], body_text[cut:]
        reference = "section\n" + with_sorry(renamed) + "\nend\n\n"
        names = [target.full_name]
        used = {t.text for t in scan(given.body[target.start :]).tokens if t.kind is Kind.IDENT}
        slot_checks = [(i, s) for i, s in enumerate(slots, start=1) if s.name in used]
    else:
        reference = ""
        names = list(dict.fromkeys(d.full_name for d in declared))
        if not names:
            return "the proof declares no theorem to check"
        slot_checks = []
    reference_lines = reference.count("\n")
    reference_start = before.count("\n") + 1  # `before` is "" or ends a line
    probe = _probe(names, reference_name if statement is not None else None, slots=slot_checks)
    command = before + reference + after + "\n\n" + probe
    probe_line = command.count("\n") - probe.count("\n") + 1
    return Plan(
        imports=imports,
        command=command,
        names=names,
        reference_lines=reference_lines,
        reference_start=reference_start,
        probe_line=probe_line,
        compares_statement=statement is not None,
        answer_checks=len(answers.probe_lines(slot_checks, reference_name)),
        line_shift=source.body_line_offset - reference_lines,
        reference_name=reference_name,
    )


def _answer_slots(statement: str) -> list[answers.AnswerSlot] | str:
    body = split_imports(statement).body
    found = answers.answer_slots(body, scan(body))
    return "the given statement is refused: " + found if isinstance(found, str) else found


def _statement_parts(body: str) -> tuple[str, str]:
    """A statement's body cut before its last theorem: (the preamble, trimmed; the theorem
    with its attributes and modifiers). The preamble is "" when it holds only commands a
    proof may write itself (``open``, ``set_option``): then the statement is replayed whole."""
    structure = scan(body)
    theorems = [c for c in structure.commands if c.keyword in THEOREM_KEYWORDS]
    if not theorems or not prefilter(body):
        return "", body
    first = command_start(structure.tokens, theorems[-1].token)
    start = structure.tokens[first].start
    return body[:start].strip(), body[start:]


def _after_preamble(body: str, preamble: str) -> int:
    """Offset of the line after ``preamble`` in ``body`` when ``body`` begins with it (exactly,
    after leading blank space), nothing follows it on its line, and a command starts next;
    else 0."""
    lead = len(body) - len(body.lstrip())
    if not body.startswith(preamble, lead):
        return 0
    end_of_line = body.find("\n", lead + len(preamble))
    if end_of_line < 0 or body[lead + len(preamble) : end_of_line].strip():
        return 0  # the preamble's last line goes on (a comment could swallow the reference)
    cut = end_of_line + 1
    rest = scan(body)
    following = [t for t in rest.tokens if t.start >= cut]
    if not following:
        return 0
    index = rest.tokens.index(following[0])
    word = skip_modifiers(rest.tokens, index)
    return cut if word in rest.command_tokens else 0


_SHOWN_FINDINGS = 20


def _summary(findings: list[Finding]) -> str:
    """The findings, one clause each (the first ``_SHOWN_FINDINGS``, then how many more)."""
    shown = "; ".join(str(f) for f in findings[:_SHOWN_FINDINGS])
    more = len(findings) - _SHOWN_FINDINGS
    return shown + (f"; and {more} more" if more > 0 else "")


def statement_check(name: str, reference: str = REFERENCE_NAME) -> str:
    """The one-line command that fails (an error at its line) unless theorem ``name`` has the
    type of ``reference`` (the statement's copy), up to a positional renaming of universe
    parameters.

    ``#guard_expr type_of% @A =ₐ type_of% @B`` cannot do this: elaborating a constant
    gives each of its universe parameters a fresh universe metavariable (``Term.mkConst``),
    and ``=ₐ`` is ``Expr.eqv`` with no unification (``MatchKind.isEq``), so two
    universe-polymorphic sides never agree. Here both constants are read from the
    environment (``getConstInfo``; each name is resolved by a double-backtick name literal
    of ``_root_.N``, as a term's name is, ``private`` names included), the proof's type is
    instantiated with the statement's own universe parameters
    (``ConstantInfo.instantiateTypeLevelParams``) and compared with ``Expr.eqv``; a
    different number of universe parameters fails. A monomorphic
    statement compares exactly as ``=ₐ`` did."""
    return (
        "#eval show _root_.Lean.MetaM _root_.Unit from do "
        f"let r ← _root_.Lean.getConstInfo ``_root_.{reference}; "
        f"let t ← _root_.Lean.getConstInfo ``_root_.{name}; "
        "let us := r.levelParams.map _root_.Lean.Level.param; "
        "unless t.levelParams.length == us.length && "
        "(t.instantiateTypeLevelParams us).eqv r.type do "
        f'throwError "{STATEMENT_MISMATCH}"'
    )


def statement_problem(statement: str) -> str | None:
    """Why ``statement`` (header + ``theorem NAME … := by``) cannot be checked against, whatever
    the proof: its header is not one Lean reads, or it declares no theorem. ``None`` if it can.
    Nothing else of it is judged: the statement is trusted as given (see ``plan``)."""
    given = split_imports(statement)
    if given.problem:
        return f"the given statement's header: {given.problem}"
    if not scan(given.body).declarations:
        return "the given statement declares no theorem"
    return None


def _probe(
    names: list[str], reference: str | None, *, slots: list[tuple[int, answers.AnswerSlot]]
) -> str:
    """The checks after the proof; ``reference``: the statement's copy to compare with. With
    answer slots the comparison is of the reference applied to the proof's definitions
    (a term, so ``#guard_expr``; universe-polymorphic answers are not supported)."""
    lines = []
    if reference is not None and slots:
        applied = answers.applied(reference, slots)
        lines.append(f"#guard_expr type_of% {applied} =ₐ type_of% @_root_.{names[0]}")
        lines += answers.probe_lines(slots, reference)
    elif reference is not None:
        lines.append(statement_check(names[0], reference))
    lines += [f"#print axioms _root_.{name}" for name in names]
    return "\n".join(lines) + "\n"


class LeanVerifier:
    """Verifies whole proofs on a ``ReplPool``."""

    def __init__(self, pool: ReplPool, config: VerifyConfig | None = None) -> None:
        self.pool = pool
        self.config = config or VerifyConfig()

    async def check(
        self,
        code: str | bytes,
        *,
        statement: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - see SketchRepl
    ) -> Verdict:
        """Verify ``code`` (imports + proof). With ``statement`` (header + theorem
        ``... := by``), also require that the proof proves exactly that theorem."""
        started = time.monotonic()
        with worker_seconds() as lean:
            verdict = await self._check(code, statement, timeout or self.config.timeout)
        return verdict.model_copy(
            update={"elapsed": time.monotonic() - started, "lean_seconds": sum(lean)}
        )

    async def _check(self, code: str | bytes, statement: str | None, timeout: float) -> Verdict:  # noqa: ASYNC109 - see SketchRepl
        text = proof_text(code, statement, self.config.max_code_bytes)
        if isinstance(text, Verdict):
            return text
        planned = await plan_off_loop(text, statement, self.config)
        if isinstance(planned, str):
            return _rejected(planned)
        result = await self._run_with_retry(planned.imports, planned.command, timeout)
        if isinstance(result, Verdict):
            return result
        reply, attempts = result
        verdict = judge(reply, planned, self.config.allowed_axioms)
        return verdict.model_copy(update={"attempts": attempts})

    async def _run_with_retry(
        self,
        imports: str,
        command: str,
        timeout: float,  # noqa: ASYNC109 - see SketchRepl
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


async def plan_off_loop(code: str, statement: str | None, config: VerifyConfig) -> Plan | str:
    """``plan`` in a worker thread with ``config.prefilter_timeout``, so a long text never
    stalls the other checks of the event loop; running out is a refusal of its own."""
    limit = config.prefilter_timeout
    deadline = time.monotonic() + limit
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(plan, code, statement, config.policy, deadline=deadline),
            timeout=limit + 1.0,  # the reading stops itself at the deadline; this is a backstop
        )
    except TimeoutError:
        return f"prefilter time limit: reading the proof took over {limit:g} s"


def judge(
    reply: Reply, planned: Plan, allowed_axioms: frozenset[str] = DEFAULT_ALLOWED_AXIOMS
) -> Verdict:
    """The verdict on Lean's ``reply`` to ``planned.command``."""
    if isinstance(reply, ErrorReply):
        # For a command the REPL answers {"message": <exception>} when elaboration throws
        # (runCommand: `catch ex => return .inr ⟨ex.toString⟩`, no "Lean error:" prefix, which
        # only tactic mode adds): Lean's answer to this text, so no crash and no retry. Only
        # "Unknown environment." is ours (the pool named an environment the REPL lacks).
        if reply.message == UNKNOWN_ENVIRONMENT:
            return Verdict(outcome=Outcome.CRASH, reason=reply.message, reply=reply.raw)
        return Verdict(
            outcome=Outcome.LEAN_ERROR,
            reason=f"Lean failed on the proof: {reply.message}",
            reply=reply.raw,
        )
    if not isinstance(reply, CommandReply):
        return Verdict(outcome=Outcome.CRASH, reason="unexpected reply kind", reply=reply.raw)
    probe_line = planned.probe_line
    first_ref, past_ref = planned.reference_start, planned.reference_start + planned.reference_lines

    def is_own(line: int) -> bool:
        return line < probe_line and not first_ref <= line < past_ref

    reference = [m for m in reply.messages if first_ref <= m.pos.line < past_ref]
    own = [m for m in reply.messages if is_own(m.pos.line)]
    probe = [m for m in reply.messages if m.pos.line >= probe_line]
    messages = [
        _shift(m, planned.line_shift + (planned.reference_lines if m.pos.line < first_ref else 0))
        for m in own
    ]

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
        s.pos is None or is_own(s.pos.line) for s in reply.sorries
    ):
        return verdict(Outcome.SORRY, "the proof uses sorry")
    if errors := [m for m in probe if m.severity == "error"]:
        first = errors[0]
        if PARSE_ERROR.match(first.data):
            return verdict(Outcome.LEAN_ERROR, f"the proof does not parse to its end: {first.data}")
        if planned.compares_statement and first.pos.line == probe_line:
            return verdict(
                Outcome.REJECTED,
                f"theorem {planned.names[0]} does not prove the given statement: {first.data}",
            )
        if probe_line < first.pos.line <= probe_line + planned.answer_checks:
            return verdict(
                Outcome.REJECTED,
                f"the proof's answer definitions are not the statement's: {first.data}",
            )
        return verdict(Outcome.REJECTED, f"check failed: {first.data}")
    used: list[str] = []
    axioms_line = probe_line + (1 + planned.answer_checks if planned.compares_statement else 0)
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
    if m := NO_AXIOMS.match(text):
        axioms: list[str] = []
    elif m := AXIOMS_LIST.match(text):
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
