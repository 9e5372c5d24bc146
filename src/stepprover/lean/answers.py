"""Answer slots: the definitions a statement leaves for the proof to give.

PutnamBench and CombiBench state a problem whose answer is to be found with a definition
the theorem uses, ``abbrev putnam_2020_a1_solution : ℕ := sorry``. The proof defines it
(``abbrev`` or ``def``, same name, at the root); everything else of the statement is
compared as for any statement. In the statement's reference block (``verify.plan``) a
slot becomes a ``variable`` of the same name, so the reference theorem takes the answer as
an argument, and a reference copy of the definition records its type and value:

    noncomputable abbrev _root_.stepprover_reference_statement_answer_1 : TYPE := VALUE
    variable (NAME : TYPE)

The probe then checks, per slot the theorem uses, that the proof's definition has that
type, and (when the statement gives a value, the answer-given track) that it unfolds to the
same value at reducible transparency; and that the proof's theorem has the type of the
reference theorem applied to the proof's definitions. A ``sorry`` value leaves the answer
to the proof. Lean's checks: ``#guard_expr`` ``=ₐ`` is ``Expr.eqv``, ``=`` is
``isDefEq`` at reducible transparency (Lean src/Lean/Elab/Tactic/Guard.lean,
``equal.toMatchKind``).
"""

from __future__ import annotations

from dataclasses import dataclass

from stepprover.lean.lexer import Kind, Token
from stepprover.lean.source import Scan, command_start, name_components


def answer_reference(reference: str, index: int) -> str:
    """Name of the reference copy of the i-th slot: the reference theorem's name (fresh for
    each check, starting with ``verify.REFERENCE_NAME``, which no proof may mention) and a
    suffix."""
    return f"{reference}_answer_{index}"


SLOT_COMMANDS = frozenset({"abbrev", "def"})
"""How a proof may give an answer (an ``abbrev`` unfolds where the value is compared)."""


@dataclass(frozen=True)
class AnswerSlot:
    name: str
    type: str
    value: str | None
    """The statement's value; None for ``sorry`` (the answer is the proof's to find)."""
    start: int
    end: int
    """The definition's span in the statement's body."""


def answer_slots(body: str, structure: Scan) -> list[AnswerSlot] | str:
    """The ``[noncomputable] abbrev NAME : TYPE := VALUE`` commands of a statement's body,
    or why one of its ``abbrev`` commands cannot be a slot."""
    tokens = structure.tokens
    slots: list[AnswerSlot] = []
    commands = structure.commands
    for n, command in enumerate(commands):
        if command.keyword != "abbrev":
            continue
        i = command.token
        if command.attributes or set(command.modifiers) - {"noncomputable"}:
            return f"line {command.line}: an answer definition takes no attribute or modifier"
        if (
            i + 2 >= len(tokens)
            or tokens[i + 1].kind is not Kind.IDENT
            or tokens[i + 2].text != ":"
        ):
            return f"line {command.line}: an answer definition is `abbrev NAME : TYPE := VALUE`"
        name = tokens[i + 1].text
        if len(name_components(name)) != 1:
            return f"line {command.line}: an answer's name is one plain component, not {name}"
        assign = _assignment(tokens, i + 3)
        following = commands[n + 1].token if n + 1 < len(commands) else len(tokens)
        last = command_start(tokens, following) - 1
        if assign is None or last <= assign + 1:
            return f"line {command.line}: an answer definition is `abbrev NAME : TYPE := VALUE`"
        first = i - len(command.modifiers)
        value = body[tokens[assign + 2].start : _end(tokens[last])].strip()
        slots.append(
            AnswerSlot(
                name=name,
                type=body[_end(tokens[i + 2]) : tokens[assign].start].strip(),
                value=None if value == "sorry" else value,
                start=tokens[first].start,
                end=_end(tokens[last]),
            )
        )
    return slots


def reference_text(slot: AnswerSlot, index: int, reference: str) -> str:
    """What replaces the slot's definition in the reference block."""
    value = "sorry" if slot.value is None else slot.value
    name = answer_reference(reference, index)
    return (
        f"noncomputable abbrev _root_.{name} : {slot.type} := {value}\n"
        f"variable ({slot.name} : {slot.type})"
    )


def probe_lines(slots: list[tuple[int, AnswerSlot]], reference: str) -> list[str]:
    """The checks of the proof's definitions, one command a line (``reference``: the reference
    theorem's name)."""
    lines = []
    for index, slot in slots:
        answer = f"@_root_.{answer_reference(reference, index)}"
        lines.append(f"#guard_expr type_of% @_root_.{slot.name} =ₐ type_of% {answer}")
        if slot.value is not None:
            lines.append(f"#guard_expr @_root_.{slot.name} = {answer}")
    return lines


def applied(reference: str, slots: list[tuple[int, AnswerSlot]]) -> str:
    """The reference theorem with the proof's definitions for its slot variables."""
    if not slots:
        return f"@_root_.{reference}"
    arguments = " ".join(f"({s.name} := @_root_.{s.name})" for _, s in slots)
    return f"(@_root_.{reference} {arguments})"


def _assignment(tokens: list[Token], start: int) -> int | None:
    """Index of the ``:`` of the first ``:=`` outside brackets from ``start``."""
    depth = 0
    for j in range(start, len(tokens) - 1):
        text = tokens[j].text
        if text in "([{⟨⦃":
            depth += 1
        elif text in ")]}⟩⦄":
            depth -= 1
        elif (
            text == ":"
            and not depth
            and tokens[j + 1].text == "="
            and tokens[j + 1].start == tokens[j].start + 1
        ):
            return j
    return None


def _end(token: Token) -> int:
    return token.start + len(token.text)
