"""Refuse, before Lean runs, proof text that could reach the checks made after it.

The checks after Lean are commands appended to the proof, so they run in the
environment the proof built; anything that can register meta code, set options
or leave a scope open could change what they report. Hence an allow-list
(``allowlists``), enforced on Lean's lexical structure (``lexer``, ``source``):

1. after the import block, every command is one of ``COMMANDS`` (with
   ``MODIFIERS``), and every attribute one of ``ATTRIBUTES``;
2. every ``set_option`` (command, tactic or term level, ``… in`` or not) names an
   option of ``OPTIONS``, compared the way Lean reads the name (guillemets, dots);
3. ``namespace``/``section`` are closed by matching ``end``s and brackets balance;
4. anywhere in the text: no keyword that starts another command, no ``#``-command,
   no word of ``DENIED_WORDS`` (``unsafe`` is fine as an Aesop rule phase:
   ``aesop (add unsafe 50% foo)``, ``add_aesop_rules unsafe 90% […]``), no name in
   ``META_NAMESPACES``; no unterminated comment or string.

Words in comments and strings never count, and the text is read as Lean reads it
(``lexer``: a port of Lean's tokenizer with its token table); where the table
cannot decide that reading (an opener touching a symbol whose extent is not
certain), where Lean would stop at a lexical error, or past the bounds (40,000
tokens, a ``deadline``), the text is refused with the lexer's rule. Each pass is
linear in the tokens. Findings carry lines of the submitted file (pass
``line_offset``, the lines before the body).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, replace

from stepprover.lean.allowlists import (
    ATTRIBUTES,
    COMMAND_KEYWORDS,
    COMMANDS,
    DENIED_SYNTAX,
    DENIED_WORDS,
    HASH_COMMANDS,
    HASH_COMMANDS_ALLOWED,
    META_NAMESPACES,
    OPTION_PREFIXES,
    OPTIONS,
)
from stepprover.lean.answers import SLOT_COMMANDS
from stepprover.lean.lexer import LIMIT_RULES, Kind, Token, TokenList, table_for, tokenize
from stepprover.lean.source import (
    Command,
    Scan,
    attributes_in,
    escape_name,
    name_components,
    open_scoped,
    scan,
)

_META_PREFIXES = {name_components(k): v for k, v in META_NAMESPACES.items()}
# code-evaluating syntax as token sequences (`eval%` is `eval` then a touching `%`)
_DENIED_SEQUENCES: dict[str, list[tuple[tuple[str, ...], str, str]]] = {}
for _atom, _why in DENIED_SYNTAX.items():
    _texts = tuple(t.text for t in tokenize(_atom).tokens)
    _DENIED_SEQUENCES.setdefault(_texts[0], []).append((_texts, _atom, _why))
_AESOP_TACTICS = frozenset({"aesop", "aesop?", "aesop_cat", "aesop_graph", "aesop_mat"})


@dataclass(frozen=True)
class Finding:
    rule: str
    line: int
    """Line in the submitted file (1-based)."""
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: `{self.rule}` {self.reason}"


@dataclass(frozen=True)
class Policy:
    """What the prefilter allows: the shipped allow-lists plus deliberate widenings."""

    extra_commands: frozenset[str] = frozenset()
    extra_attributes: frozenset[str] = frozenset()
    extra_options: frozenset[str] = frozenset()
    """Dotted option names, e.g. ``"linter.unusedVariables"``."""
    answer_slots: frozenset[str] = frozenset()
    """Names the proof may define (``abbrev``/``def``): a statement's answer slots
    (``lean.answers``); the probe checks what the proof gives them."""

    def with_answer_slots(self, names: Iterable[str]) -> Policy:
        return replace(self, answer_slots=self.answer_slots | frozenset(names))

    def command_allowed(self, word: str) -> bool:
        return word in COMMANDS or word in self.extra_commands

    def attribute_allowed(self, name: str) -> bool:
        return name in ATTRIBUTES or name in self.extra_attributes

    def option_allowed(self, components: tuple[str, ...]) -> bool:
        extra = {name_components(o) for o in self.extra_options}
        return (
            components in OPTIONS
            or components in extra
            or any(components[: len(p)] == p and len(components) > len(p) for p in OPTION_PREFIXES)
        )


DEFAULT_POLICY = Policy()


def prefilter(
    body: str,
    *,
    line_offset: int = 0,
    policy: Policy = DEFAULT_POLICY,
    imports: str = "",
    deadline: float | None = None,
) -> list[Finding]:
    """Everything in ``body`` (Lean text after the import block) that is refused.

    ``line_offset`` is the number of lines before ``body`` in the submitted file;
    ``imports`` its import block (``import A\nimport B``), which decides the tokens Lean
    reads; ``deadline`` a ``time.monotonic()`` value past which reading stops (refused).
    """
    return prefilter_scan(
        body, line_offset=line_offset, policy=policy, imports=imports, deadline=deadline
    )[0]


def prefilter_scan(
    body: str,
    *,
    line_offset: int = 0,
    policy: Policy = DEFAULT_POLICY,
    imports: str = "",
    deadline: float | None = None,
) -> tuple[list[Finding], Scan]:
    """``prefilter``, and the command structure it read (so a caller need not read it again)."""
    modules = [line.removeprefix("import").strip() for line in imports.splitlines()]
    structure = scan(body, table=table_for(modules), deadline=deadline)
    if any(p.rule in LIMIT_RULES for p in structure.lexical):  # read in part: that is the finding
        findings = [Finding(p.rule, p.line, p.reason) for p in structure.lexical]
    else:
        findings = _structural(body, structure, policy) + _lexical(structure, policy)
    findings = sorted(set(findings), key=lambda f: (f.line, f.rule))
    return [Finding(f.rule, f.line + line_offset, f.reason) for f in findings], structure


def _structural(body: str, structure: Scan, policy: Policy) -> list[Finding]:
    findings: list[Finding] = []
    if structure.unterminated is not None:
        findings.append(
            Finding(
                f"unterminated {structure.unterminated}",
                body.count("\n") + 1,
                "would swallow the checks",
            )
        )
    for lexical in structure.lexical:
        findings.append(Finding(lexical.rule, lexical.line, lexical.reason))
    for line in structure.ambiguous_comments:
        findings.append(
            Finding(
                "ambiguous comment",
                line,
                "`/-/` or `/--/` opens a comment whose end Lean "
                "reads differently, so its text could be code",
            )
        )
    for problem in structure.scope_problems:
        findings.append(Finding("scope", problem.line, problem.reason))
    last = structure.tokens[-1] if structure.tokens else None
    if last is not None and last.kind is Kind.IDENT and last.text == "in":
        # `open X in` / `set_option … in` scopes the next command: the verifier's own check
        findings.append(
            Finding("in", last.line, "ends the proof, so it would apply to the check after it")
        )
    for command in structure.commands:
        word = command.keyword
        if (
            not policy.command_allowed(word)
            and not _gives_answer(structure, command, policy)
            and not _allowed_hash_command(structure, command)
        ):
            reason = COMMAND_KEYWORDS.get(word) or (
                "is not an allowed command" if not word.startswith("#") else "runs a #-command"
            )
            findings.append(Finding(word, command.line, reason))
    return findings


def _gives_answer(structure: Scan, command: Command, policy: Policy) -> bool:
    """``abbrev NAME`` / ``def NAME`` for one of the statement's answer slots."""
    after = command.token + 1
    return (
        command.keyword in SLOT_COMMANDS
        and after < len(structure.tokens)
        and structure.tokens[after].text in policy.answer_slots
    )


def _allowed_hash_command(structure: Scan, command: Command) -> bool:
    """``#print axioms NAME`` (``HASH_COMMANDS_ALLOWED``): the word, its first argument, then
    one name and nothing more before the next command."""
    tokens, i = structure.tokens, command.token
    if i + 2 >= len(tokens) or (tokens[i].text, tokens[i + 1].text) not in HASH_COMMANDS_ALLOWED:
        return False
    name = tokens[i + 2]
    return (
        name.kind is Kind.IDENT
        and not command.modifiers
        and not command.attributes
        and (
            i + 3 == len(tokens) or i + 3 in structure.command_tokens or _starts_line(tokens, i + 3)
        )
    )


def _spells(tokens: list[Token], i: int, texts: tuple[str, ...]) -> bool:
    """Whether ``tokens[i:]`` begins with ``texts``, each touching the one before."""
    if i + len(texts) > len(tokens):
        return False
    run = tokens[i : i + len(texts)]
    return all(t.text == x for t, x in zip(run, texts, strict=True)) and all(
        b.start == a.start + len(a.text) for a, b in itertools.pairwise(run)
    )


def _starts_line(tokens: list[Token], i: int) -> bool:
    return tokens[i].line > tokens[i - 1].line


def _lexical(structure: Scan, policy: Policy) -> list[Finding]:
    tokens = structure.tokens
    findings: list[Finding] = []
    brackets = _Enclosing(tokens)
    for i, tok in enumerate(tokens):
        if i in structure.command_tokens:
            pass  # the command word itself is judged above
        elif tok.kind is Kind.HASH_COMMAND and (
            tok.text in HASH_COMMANDS or not _term_expected(tokens, i)
        ):
            findings.append(Finding(tok.text, tok.line, "runs a #-command"))
        elif (
            tok.kind is Kind.IDENT
            and tok.text in COMMAND_KEYWORDS
            and not policy.command_allowed(tok.text)
            and not brackets.inside_attribute(i)
            and not open_scoped(tokens, i)
        ):
            findings.append(Finding(tok.text, tok.line, COMMAND_KEYWORDS[tok.text]))
        if tok.kind is Kind.STRING and "{" in tok.text and not tok.text.startswith("r"):
            # `dbg_trace "…{e}…"`, `throwError "…{e}…"`, `s! "…{e}…"` read `{e}` as a term that
            # is elaborated (with any `by run_tac …` in it) while this lexer sees a string
            findings.append(
                Finding(
                    "string with {",
                    tok.line,
                    "may be interpolated: its `{…}` "
                    "parts would be code the prefilter does not read",
                )
            )
        if tok.kind is not Kind.IDENT:
            if tok.text == "[" and i > 0 and tokens[i - 1].text in ("@", "attribute"):
                findings += _attribute_findings(tokens, i, policy)
            continue
        if _interpolates(tokens, i):
            findings.append(
                Finding(
                    tok.text,
                    tok.line,
                    "interpolates a string: its `{…}` parts are code the prefilter does not read",
                )
            )
        for texts, atom, why in _DENIED_SEQUENCES.get(tok.text, ()):
            if _spells(tokens, i, texts):
                findings.append(Finding(atom, tok.line, why))
        if tok.text == "set_option":
            findings += _option_findings(tokens, i, policy)
        elif tok.text in ("open", "namespace"):
            findings += _scope_findings(tokens, i)
        elif i in structure.command_tokens:
            continue
        elif (word := _plain(tok.text)) in DENIED_WORDS and not _aesop_phase(tokens, i, brackets):
            findings.append(Finding(word, tok.line, DENIED_WORDS[word]))
        elif meta := _meta_namespace(tok.text):
            findings.append(Finding(tok.text, tok.line, f"names {meta}"))
    return findings


# Symbols after which Lean's parser requires a term, so a `#word` there cannot start a command
# (Lean reads it as notation, e.g. Mathlib's `#s` for `Finset.card s`, or fails to parse).
_TERM_BEFORE = frozenset("([{⟨:=≠≤<>≥+-*/^∣•∈∉⊆⊂∪∩¬↑←→↔∧∨")


def _term_expected(tokens: list[Token], i: int) -> bool:
    """Whether the token before ``i`` is an operator or opening bracket: a `#word` that follows
    anything else (an identifier, a literal, `)`, `;`) may start a new command mid-line, and an
    unlisted #-command there would not be seen by the command scan (fail closed)."""
    return i > 0 and tokens[i - 1].kind is Kind.SYMBOL and tokens[i - 1].text in _TERM_BEFORE


def _interpolates(tokens: list[Token], i: int) -> bool:
    """``s!"…{e}…"`` (also ``m!``, ``f!``..., and ``s! "…"`` with a space, which Lean reads
    the same): the string's ``{…}`` parts are terms."""
    tok = tokens[i]
    return tok.text.endswith("!") and i + 1 < len(tokens) and tokens[i + 1].kind is Kind.STRING


class _Enclosing:
    """The innermost open bracket around each token, found in one pass when first asked
    (walking back from every word would be quadratic)."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self._square: list[int] | None = None
        self._any: list[int] | None = None

    @staticmethod
    def _innermost(tokens: list[Token], opens: str, closes: str) -> list[int]:
        result: list[int] = [-1] * len(tokens)
        stack: list[int] = []
        for j, tok in enumerate(tokens):
            result[j] = stack[-1] if stack else -1
            if tok.text in opens:
                stack.append(j)
            elif tok.text in closes and stack:
                stack.pop()
        return result

    def inside_attribute(self, i: int) -> bool:
        """Whether the innermost ``[`` around ``i`` is an ``@[`` or ``attribute [``."""
        if self._square is None:
            self._square = self._innermost(self.tokens, "[", "]")
        j = self._square[i]
        return j > 0 and self.tokens[j - 1].text in ("@", "attribute")

    def bracket(self, i: int) -> int:
        """Index of the innermost ``(``, ``[`` or ``{`` around ``i`` (-1: none)."""
        if self._any is None:
            self._any = self._innermost(self.tokens, "([{", ")]}")
        return self._any[i]


def _attribute_findings(tokens: list[Token], open_bracket: int, policy: Policy) -> list[Finding]:
    return [
        Finding(f"@[{a.name}]", a.line, "is not an allowed attribute")
        for a in attributes_in(tokens, open_bracket)
        if not policy.attribute_allowed(a.name)
    ]


def _option_findings(tokens: list[Token], i: int, policy: Policy) -> list[Finding]:
    tok = tokens[i]
    if i + 1 >= len(tokens) or tokens[i + 1].kind is not Kind.IDENT:
        return [Finding("set_option", tok.line, "without an option name")]
    components = name_components(tokens[i + 1].text)
    if policy.option_allowed(components):
        return []
    return [Finding(f"set_option {escape_name(components)}", tok.line, "is not an allowed option")]


def _scope_findings(tokens: list[Token], i: int) -> list[Finding]:
    """``open Mathlib`` or ``namespace Mathlib`` would make ``Tactic.…`` name Mathlib's meta code:
    a namespace that contains a meta namespace may not be opened or entered either."""
    findings = []
    j = i + 2 if open_scoped(tokens, i + 1) else i + 1
    while (
        j < len(tokens)
        and tokens[j].kind is Kind.IDENT
        # another `open` or `namespace` reads its own names (each name is read once)
        and tokens[j].text not in ("in", "hiding", "renaming", "open", "namespace")
    ):
        components = _from_root(name_components(tokens[j].text))
        for prefix, why in _META_PREFIXES.items():
            if len(components) < len(prefix) and prefix[: len(components)] == components:
                findings.append(Finding(tokens[j].text, tokens[j].line, f"contains {why}"))
                break
        j += 1
    return findings


def _plain(text: str) -> str:
    """A name as Lean resolves it (``«unsafeCast»`` is the constant ``unsafeCast``)."""
    return escape_name(name_components(text)) if "«" in text else text


def _from_root(components: tuple[str, ...]) -> tuple[str, ...]:
    """A name with its leading ``_root_`` removed (``_root_.Mathlib``, ``«_root_».Mathlib`` and
    ``_root_._root_.Mathlib`` all name ``Mathlib``, guillemets already dropped)."""
    while components[:1] == ("_root_",):
        components = components[1:]
    return components


def _meta_namespace(text: str) -> str | None:
    components = _from_root(name_components(text))
    for prefix, why in _META_PREFIXES.items():
        if components[: len(prefix)] == prefix:
            return why
    return None


def _aesop_phase(tokens: list[Token], i: int, brackets: _Enclosing) -> bool:
    """``unsafe`` as Aesop's rule phase: ``add_aesop_rules unsafe``, ``aesop (add unsafe …)``,
    ``aesop (add safe foo, unsafe bar)``, ``@[aesop unsafe 50% apply]``."""
    if tokens[i].text != "unsafe" or i == 0:
        return False
    before = tokens[i - 1].text
    if before == "add_aesop_rules" or (before == "aesop" and brackets.inside_attribute(i)):
        return True  # (after the `aesop` tactic, whose clauses are bracketed, it starts a command)
    if before not in ("add", ","):
        return False
    # find the enclosing `(` and require `(add …` right after an aesop tactic (or another clause)
    j = brackets.bracket(i)
    if j < 0 or tokens[j].text != "(" or j + 1 >= len(tokens) or tokens[j + 1].text != "add":
        return False
    k = j - 1
    while k >= 0 and tokens[k].text == ")":  # skip earlier clauses: aesop (…) (…) (add …)
        k = _opening(tokens, k) - 1
    return k >= 0 and tokens[k].text in _AESOP_TACTICS


def _opening(tokens: list[Token], close: int) -> int:
    if isinstance(tokens, TokenList):
        return tokens.opening(close, "()[]{}")
    depth = 0
    for j in range(close, -1, -1):
        if tokens[j].text in (")", "]", "}"):
            depth += 1
        elif tokens[j].text in ("(", "[", "{"):
            depth -= 1
            if depth == 0:
                return j
    return 0
