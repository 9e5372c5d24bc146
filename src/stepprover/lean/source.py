"""Reading Lean source: the import block, the command structure, declared names.

Not a parser: commands are found by where Lean's own parser must start one (the
text's first token, a token at column 0 outside brackets, a token after a
command-level ``… in``, or a keyword that only starts a command), which is all
the prefilter and the probes need.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from stepprover.lean.allowlists import COMMAND_KEYWORDS, COMMANDS, HASH_COMMANDS, MODIFIERS
from stepprover.lean.lexer import (
    LIMIT_RULES,
    Kind,
    Problem,
    Token,
    TokenList,
    TokenTable,
    is_ident_rest,
    is_ident_start,
    is_plain_component,
    tokenize,
)

THEOREM_KEYWORDS = frozenset({"theorem", "lemma"})
SCOPE_KEYWORDS = frozenset({"namespace", "section", "end"})
# Keywords that can only start a command (never a tactic or a term), wherever they are.
_ALWAYS_COMMANDS = (frozenset(COMMANDS) | frozenset(COMMAND_KEYWORDS)) - {"open", "set_option"}
# Keywords that never start a command: at column 0 they continue the one before (`:=\nby simp`).
_CONTINUATIONS = frozenset(
    {
        "where",
        "termination_by",
        "decreasing_by",
        "with",
        "then",
        "else",
        "at",
        "in",
        "by",
        "fun",
        "calc",
        "show",
        "from",
        "match",
        "if",
        "let",
        "have",
        "do",
        "using",
    }
)
# Words Lean's header parser reads as keywords, not a module name (``import set_option`` fails).
_NOT_MODULES = _ALWAYS_COMMANDS | _CONTINUATIONS | {"open", "set_option", "import", "prelude"}
_OPEN = {"(": ")", "[": "]", "{": "}", "⟨": "⟩", "⦃": "⦄"}
_CLOSE = {v: k for k, v in _OPEN.items()}
_PAIRS = "".join(k + v for k, v in _OPEN.items())
_IMPORT_TOKENS = 4096
MAX_SCOPE_DEPTH = 64
"""Nested ``namespace``/``section`` scopes read; deeper is refused (no honest proof nests so,
and each command's namespace costs the depth)."""


@dataclass(frozen=True)
class SplitSource:
    """A Lean text cut into its leading import block (its header) and the rest."""

    imports: str
    """The import commands, one per line (``import A\nimport B``), in the order written."""
    body: str
    """Everything after the header, unchanged (from the next line when the last import's line
    holds nothing else)."""
    body_line_offset: int
    """Lines before the body in the original text (add to body positions for file positions)."""
    modules: tuple[str, ...] = ()
    """The modules imported, in the order written (repeats kept)."""
    problem: str | None = None
    """Why Lean's header parser refuses the header (``import A B``, ``import runtime X``,
    ``prelude``), or None when it reads as plain imports."""


@dataclass(frozen=True)
class EnvKey:
    """What decides the environment an import block builds: the set of its modules (order and
    repeats change nothing, as Lean imports each module once). A worker serves one key."""

    modules: frozenset[str]
    toolchain: str = ""
    """The Lean toolchain the environment is built by ("" for the pool's own): where a pool
    that serves several toolchains joins it to the key."""

    @property
    def imports(self) -> str:
        """The canonical import block of this key (modules sorted, one per line)."""
        return "\n".join(f"import {m}" for m in sorted(self.modules))


def env_key(imports: str, toolchain: str = "") -> EnvKey:
    """The key of an import block (``import A\nimport B``). The pool asks for every request's
    key and the blocks in traffic are few, so short blocks' keys are cached."""
    if len(imports) > _CACHED_BLOCK_CHARS:
        return _env_key(imports, toolchain)
    return _cached_env_key(imports, toolchain)


_CACHED_BLOCK_CHARS = 2048


def _env_key(imports: str, toolchain: str) -> EnvKey:
    return EnvKey(frozenset(split_imports(imports).modules), toolchain)


_cached_env_key = functools.lru_cache(maxsize=1024)(_env_key)


def split_imports(code: str) -> SplitSource:
    """Separate the leading header from the body, as Lean's header parser reads it.

    Lean's ``src/Lean/Parser/Module.lean`` (leanprover/lean4 at commit
    03e3a1cc6b8b574f99ca4310b4fd26f5542c1809, the header before Lean's module system, as in
    v4.20): ``header := optional prelude >> many import`` with
    ``import := "import " >> optional "runtime" >> ident``: one module per ``import``
    (``import Mathlib import Aesop`` on one line is two imports; in ``import A B`` the ``B``
    ends the header and is read as a command, an error), and ``import runtime X`` imports
    ``X`` only for running code. Comments among the imports are skipped.
    """
    if "import" not in code and "prelude" not in code:  # no header token: skip the lexer
        return SplitSource("", code, 0)
    # the import block is at the start: read the first tokens, all of them only if the block
    # runs to the end of those (reading a whole long text here would be wasted)
    tokens = tokenize(code, max_tokens=_IMPORT_TOKENS).tokens
    if len(tokens) >= _IMPORT_TOKENS:
        tokens = tokenize(code).tokens if _import_block_end(tokens) >= len(tokens) else tokens
    modules: list[str] = []
    problem: str | None = None
    i = 0
    if tokens and tokens[0].kind is Kind.IDENT and tokens[0].text == "prelude":
        problem = "`prelude` drops Lean's core library from the environment"
        i = 1
    while i < len(tokens) and tokens[i].kind is Kind.IDENT and tokens[i].text == "import":
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if nxt is not None and nxt.kind is Kind.IDENT and nxt.text == "runtime":
            problem = problem or (
                f"line {nxt.line}: `import runtime` imports a module for running code only, "
                "not an environment a proof is checked in"
            )
            i += 1
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if nxt is None or nxt.kind is not Kind.IDENT or nxt.text in _NOT_MODULES:
            problem = problem or f"line {tokens[i].line}: `import` without a module name"
            i += 1
            break
        modules.append(nxt.text)
        i += 2
        after = tokens[i] if i < len(tokens) else None
        if (
            after is not None
            and after.line == nxt.line
            and after.kind is Kind.IDENT
            and after.text not in _NOT_MODULES
        ):
            problem = problem or (
                f"line {nxt.line}: `import {nxt.text} {after.text}`: Lean's header takes one "
                "module per `import`, so the next word is read as a command (an error)"
            )
    if i == 0:
        return SplitSource("", code, 0)
    last = tokens[i - 1]
    end = last.start + len(last.text)
    if i < len(tokens) and tokens[i].line == last.line:
        body_start = end  # a command on the last import's line (`import Mathlib theorem …`)
    else:
        end_of_line = code.find("\n", end)
        body_start = len(code) if end_of_line < 0 else end_of_line + 1
    imports = "\n".join(f"import {m}" for m in modules)
    return SplitSource(
        imports, code[body_start:], code.count("\n", 0, body_start), tuple(modules), problem
    )


def _import_block_end(tokens: list[Token]) -> int:
    """Index of the first token that is no identifier: the header (``prelude``, ``import``,
    ``runtime`` and module names) cannot reach past it."""
    return next((i for i, t in enumerate(tokens) if t.kind is not Kind.IDENT), len(tokens))


def command_start(tokens: list[Token], keyword: int) -> int:
    """Index of the first token of the command whose word is ``tokens[keyword]``: its
    modifiers (``MODIFIERS``) and ``@[…]`` attributes belong to it (``keyword`` may be
    ``len(tokens)``: then where the modifiers and attributes at the end start)."""
    i = keyword
    while i > 0:
        prev = tokens[i - 1]
        if prev.kind is Kind.IDENT and prev.text in MODIFIERS:
            i -= 1
        elif prev.text == "]":
            depth, j = 0, i - 1
            while j >= 0:
                depth += {"]": 1, "[": -1}.get(tokens[j].text, 0)
                if depth == 0:
                    break
                j -= 1
            if j > 0 and tokens[j - 1].text == "@":
                i = j - 1
            else:
                return i
        else:
            return i
    return i


def odd_imports(imports: str) -> list[str]:
    """Modules of an import block (``import A\nimport B``) that are not plain dotted names,
    and any text of it that is no import.

    Lean finds a module's file by joining its name's components with ``/``, so
    ``import «..».«..».tmp.x`` would load an ``.olean`` from outside the search path (one a
    sketch could have written), and that file could replace the elaborators of the checks.
    """
    header = split_imports(imports)
    odd = []
    for module in header.modules:
        parts = name_components(module)
        if "«" in module or not all(
            p and is_ident_start(p[0]) and all(is_ident_rest(c) for c in p[1:]) for p in parts
        ):
            odd.append(module)
    if rest := header.body.strip():  # not an import at all (`garbage here`, `import A B`)
        odd.append(rest)
    return odd


def name_components(text: str) -> tuple[str, ...]:
    """A name as Lean reads it: split at dots outside guillemets, guillemets removed.

    ``«debug».skipKernelTC`` and ``debug.«skipKernelTC»`` are ``("debug", "skipKernelTC")``;
    ``«a.b»`` is the single component ``"a.b"``.
    """
    if "«" not in text:
        return tuple(text.split("."))
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "«":
            close = text.find("»", i + 1)
            close = len(text) if close < 0 else close
            current.append(text[i + 1 : close])
            i = close + 1
        elif c == ".":
            parts.append("".join(current))
            current = []
            i += 1
        else:
            current.append(c)
            i += 1
    parts.append("".join(current))
    return tuple(parts)


def escape_name(components: tuple[str, ...]) -> str:
    """Write name components back as Lean source, with guillemets where a component needs them."""

    def one(c: str) -> str:
        return c if is_plain_component(c) else f"«{c}»"

    return ".".join(one(c) for c in components)


@dataclass(frozen=True)
class Attribute:
    name: str
    line: int


@dataclass(frozen=True)
class Command:
    """One command, as far as the prefilter needs it."""

    keyword: str
    """The word that names the command (``theorem``, ``open``, ``#eval``...), after modifiers."""
    token: int
    """Index of that word in the token list."""
    line: int
    modifiers: tuple[str, ...] = ()
    attributes: tuple[Attribute, ...] = ()


@dataclass(frozen=True)
class Declaration:
    keyword: str
    """``theorem`` or ``lemma``."""
    name: str
    """As written after the keyword."""
    resolved: tuple[str, ...]
    """Fully resolved name components (enclosing namespaces applied, ``_root_`` removed)."""
    line: int
    start: int
    """Offset of the name in the text."""

    @property
    def full_name(self) -> str:
        return escape_name(self.resolved)


@dataclass(frozen=True)
class ScopeProblem:
    line: int
    reason: str


@dataclass
class Scan:
    """The command structure of a body."""

    tokens: list[Token]
    unterminated: str | None
    commands: list[Command] = field(default_factory=list)
    declarations: list[Declaration] = field(default_factory=list)
    scope_problems: list[ScopeProblem] = field(default_factory=list)
    command_tokens: set[int] = field(default_factory=set)
    """Indices of tokens that start a command (the command word, after modifiers)."""
    ambiguous_comments: list[int] = field(default_factory=list)
    """Lines of block comments Lean may delimit differently (``lexer.Lexed.ambiguous``)."""
    lexical: list[Problem] = field(default_factory=list)
    """Where the text cannot be read as Lean reads it (``lexer.Lexed.problems``)."""
    attribute_tokens: set[int] = field(default_factory=set)
    """Indices of tokens inside ``@[...]`` and ``attribute [...]``."""


def scan(body: str, *, table: TokenTable | None = None, deadline: float | None = None) -> Scan:
    """Find the commands, the declared theorems and the namespace/section structure of ``body``
    (``table``: Lean's tokens for its imports; ``deadline``: a ``time.monotonic()`` value past
    which lexing stops with a problem)."""
    lexed = tokenize(body, table, deadline=deadline)
    tokens = lexed.tokens
    result = Scan(
        tokens, lexed.unterminated, ambiguous_comments=lexed.ambiguous, lexical=lexed.problems
    )
    if any(p.rule in LIMIT_RULES for p in lexed.problems):
        return result  # read only in part: refused for that, the structure is not worked out
    starts = _command_starts(body, tokens, result)
    scopes: list[tuple[str, tuple[str, ...]]] = []  # (kind, name components)
    last = -1
    for i in sorted(starts):
        if i <= last:  # the command word of a command already read (`private theorem`)
            continue
        command = _read_command(tokens, i)
        if command is None:
            continue
        last = command.token
        result.commands.append(command)
        result.command_tokens.add(command.token)
        if len(scopes) > MAX_SCOPE_DEPTH:
            if not any("nested deeper" in p.reason for p in result.scope_problems[-1:]):
                result.scope_problems.append(
                    ScopeProblem(command.line, f"scopes nested deeper than {MAX_SCOPE_DEPTH}")
                )
            continue
        _follow_scopes(tokens, command, scopes, result)
    for kind, name in reversed(scopes):
        what = f"{kind} {escape_name(name)}" if name else kind
        result.scope_problems.append(
            ScopeProblem(_last_line(body), f"`{what}` is not closed by `end` before the checks")
        )
    return result


def _last_line(body: str) -> int:
    return body.count("\n") + 1


def _command_starts(body: str, tokens: list[Token], result: Scan) -> set[int]:
    starts: set[int] = set()
    depth: list[str] = []
    in_attribute = _attribute_tokens(tokens)
    result.attribute_tokens = in_attribute
    signature = False  # inside a theorem's binders and type, before its `:=`
    line_start, last_start, previous = 0, -1, 0
    commands_at: dict[int, int | None] = {}  # command start -> its command word (cached)
    for i, tok in enumerate(tokens):
        if i - 1 in starts:
            last_start = i - 1
        # the line's start, searched only back to the previous token (linear in all)
        newline = body.rfind("\n", previous, tok.start)
        line_start, previous = (newline + 1 if newline >= 0 else line_start), tok.start
        column = tok.start - line_start
        if tok.text in THEOREM_KEYWORDS:
            signature = True
        elif (
            signature
            and not depth
            and (
                (tok.text == ":" and _followed_by(tokens, i, "="))
                # equations of a term-mode theorem, at column 0 or indented (`  | 0 => rfl`): a `|`
                # that starts a line (`|x|` at a line start ends it too early, which is only
                # stricter)
                or (tok.text == "|" and (i == 0 or tokens[i - 1].line < tok.line))
                or tok.text == "where"
            )
        ):
            signature = False
        if i in in_attribute:
            pass
        elif (
            i == 0
            or (column == 0 and not depth and not signature and _may_start(tokens, i))
            or (
                tok.kind is Kind.IDENT
                and tok.text in _ALWAYS_COMMANDS
                and not open_scoped(tokens, i)
            )
            or (tok.kind is Kind.HASH_COMMAND and tok.text in HASH_COMMANDS)
        ):
            starts.add(i)
        elif (
            tok.kind is Kind.IDENT
            and tok.text == "in"
            and i + 1 < len(tokens)
            and _command_level_in(tokens, i, last_start, commands_at)
        ):
            starts.add(i + 1)
        if tok.kind is Kind.SYMBOL:
            if tok.text in _OPEN:
                depth.append(tok.text)
            elif tok.text in _CLOSE:
                if not depth or depth[-1] != _CLOSE[tok.text]:
                    result.scope_problems.append(
                        ScopeProblem(tok.line, f"unbalanced bracket `{tok.text}`")
                    )
                    depth.clear()
                else:
                    depth.pop()
    if depth:
        result.scope_problems.append(
            ScopeProblem(_last_line(body), f"unclosed bracket `{depth[-1]}`")
        )
    return starts


def open_scoped(tokens: list[Token], i: int) -> bool:
    """Whether ``tokens[i]`` is the ``scoped`` of ``open scoped X`` (not a ``scoped`` command)."""
    return tokens[i].text == "scoped" and i > 0 and tokens[i - 1].text == "open"


def _followed_by(tokens: list[Token], i: int, text: str) -> bool:
    """Whether the token after ``i`` is ``text`` and touches it (``:`` ``=`` is ``:=``)."""
    return (
        i + 1 < len(tokens)
        and tokens[i + 1].text == text
        and tokens[i + 1].start == tokens[i].start + len(tokens[i].text)
    )


def _may_start(tokens: list[Token], i: int) -> bool:
    """A token at column 0 starts a command unless it is a symbol (``| 0 => …``), a literal,
    or a word that continues a declaration (``where``, ``termination_by``)."""
    tok = tokens[i]
    if tok.kind is Kind.SYMBOL:
        return tok.text == "@" and i + 1 < len(tokens) and tokens[i + 1].text == "["
    if tok.kind is Kind.IDENT:
        return tok.text not in _CONTINUATIONS
    return tok.kind is Kind.HASH_COMMAND


def _attribute_tokens(tokens: list[Token]) -> set[int]:
    """Indices of tokens inside ``@[...]`` and ``attribute [...]`` (their words are attribute
    names)."""
    # count the open attribute brackets at each token (nested ones too) in one pass
    change = [0] * (len(tokens) + 1)
    for i, tok in enumerate(tokens[:-1]):
        if tokens[i + 1].text == "[" and (tok.text == "@" or tok.text == "attribute"):
            change[i + 2] += 1
            change[max(i + 2, _matching(tokens, i + 1))] -= 1
    inside: set[int] = set()
    depth = 0
    for i in range(len(tokens)):
        depth += change[i]
        if depth > 0:
            inside.add(i)
    return inside


def _command_level_in(
    tokens: list[Token], i: int, last_start: int, commands_at: dict[int, int | None]
) -> bool:
    """Whether the ``in`` at ``i`` ends a command-level ``open … in`` or ``set_option … in``
    (``last_start``: the start of the command it is in)."""
    if last_start < 0:
        return False
    if last_start not in commands_at:
        commands_at[last_start] = skip_modifiers(tokens, last_start)
    k = commands_at[last_start]
    return k is not None and k < i and tokens[k].text in ("open", "set_option")


def skip_modifiers(tokens: list[Token], i: int) -> int | None:
    """Index of the command word after attributes and modifiers starting at ``i`` (None: the
    text ends first)."""
    while i < len(tokens):
        tok = tokens[i]
        if tok.text == "@" and i + 1 < len(tokens) and tokens[i + 1].text == "[":
            i = _matching(tokens, i + 1) + 1
        elif (
            tok.kind is Kind.IDENT
            and tok.text in MODIFIERS
            and not (
                tok.text == "noncomputable"
                and i + 1 < len(tokens)
                and tokens[i + 1].text == "section"
            )
        ):
            i += 1
        else:
            return i
    return None


def _matching(tokens: list[Token], i: int) -> int:
    """Index of the bracket closing the one at ``i`` (or the last token)."""
    if isinstance(tokens, TokenList):
        return tokens.closing(i, _PAIRS)
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j].text in _OPEN:
            depth += 1
        elif tokens[j].text in _CLOSE:
            depth -= 1
            if depth == 0:
                return j
    return len(tokens) - 1


def attributes_in(tokens: list[Token], open_bracket: int) -> list[Attribute]:
    """The attribute names inside ``[...]`` starting at ``open_bracket`` (kinds
    ``local``/``scoped`` skipped)."""
    close = _matching(tokens, open_bracket)
    names: list[Attribute] = []
    expect_name = True
    j = open_bracket + 1
    while j < close:
        tok = tokens[j]
        j += 1
        if tok.text in _OPEN:
            # skip the nested bracket whole (each token is looked at by one attribute list)
            j = _matching(tokens, j - 1) + 1
        elif tok.text == ",":
            expect_name = True
        elif expect_name:
            if tok.kind is Kind.IDENT and tok.text in ("local", "scoped"):
                continue
            names.append(Attribute(tok.text, tok.line))
            expect_name = False
    return names


def _read_command(tokens: list[Token], i: int) -> Command | None:
    modifiers: list[str] = []
    attributes: list[Attribute] = []
    j = i
    while j < len(tokens):
        tok = tokens[j]
        if tok.text == "@" and j + 1 < len(tokens) and tokens[j + 1].text == "[":
            attributes += attributes_in(tokens, j + 1)
            j = _matching(tokens, j + 1) + 1
        elif (
            tok.kind is Kind.IDENT
            and tok.text in MODIFIERS
            and not (
                tok.text == "noncomputable"
                and j + 1 < len(tokens)
                and tokens[j + 1].text == "section"
            )
        ):
            modifiers.append(tok.text)
            j += 1
        else:
            break
    if j >= len(tokens):
        word = tokens[i].text
        return Command(word, i, tokens[i].line, tuple(modifiers), tuple(attributes))
    tok = tokens[j]
    keyword = tok.text
    if keyword == "noncomputable" and j + 1 < len(tokens) and tokens[j + 1].text == "section":
        keyword = "section"
        j += 1
    return Command(keyword, j, tok.line, tuple(modifiers), tuple(attributes))


def _follow_scopes(
    tokens: list[Token],
    command: Command,
    scopes: list[tuple[str, tuple[str, ...]]],
    result: Scan,
) -> None:
    j = command.token
    nxt = tokens[j + 1] if j + 1 < len(tokens) else None
    same_line_ident = (
        nxt is not None
        and nxt.kind is Kind.IDENT
        and nxt.line == tokens[j].line
        and nxt.text not in _ALWAYS_COMMANDS
        and nxt.text not in ("open", "set_option")
    )
    current = tuple(c for kind, name in scopes if kind == "namespace" for c in name)
    if command.keyword in THEOREM_KEYWORDS and nxt is not None and nxt.kind is Kind.IDENT:
        parts = name_components(nxt.text)
        resolved = parts[1:] if parts[0] == "_root_" else current + parts
        result.declarations.append(
            Declaration(command.keyword, nxt.text, resolved, nxt.line, nxt.start)
        )
    elif command.keyword == "namespace":
        if nxt is None or nxt.kind is not Kind.IDENT:
            result.scope_problems.append(ScopeProblem(command.line, "`namespace` without a name"))
        else:
            scopes.append(("namespace", name_components(nxt.text)))
    elif command.keyword == "section":
        scopes.append(("section", name_components(nxt.text) if same_line_ident and nxt else ()))
    elif command.keyword == "end":
        name = name_components(nxt.text) if same_line_ident and nxt else ()
        if not scopes:
            result.scope_problems.append(ScopeProblem(command.line, "`end` without an open scope"))
        else:
            kind, open_name = scopes.pop()
            if open_name != name:
                written = " ".join(["end", escape_name(name)] if name else ["end"])
                opened = " ".join([kind, escape_name(open_name)] if open_name else [kind])
                result.scope_problems.append(
                    ScopeProblem(command.line, f"`{written}` does not close `{opened}`")
                )


def declared_theorems(code: str) -> list[str]:
    """Fully resolved names declared with ``theorem``/``lemma`` in ``code``, in order."""
    return [d.full_name for d in scan(code).declarations]


def with_sorry(statement: str) -> str:
    """Complete a statement (``theorem x : P := by``) with ``sorry`` so Lean elaborates it."""
    text = statement.rstrip()
    if text.endswith("sorry"):
        return text
    if text.endswith(":= by"):
        return text + "\n  sorry"
    if text.endswith(":="):
        return text + " sorry"
    return text + " := sorry"
