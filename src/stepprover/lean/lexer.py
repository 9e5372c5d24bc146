"""Lean 4's tokenizer, ported: where comments, strings and literals begin and end.

A port of ``tokenFn`` and what it calls in leanprover/lean4 ``src/Lean/Parser/Basic.lean``
(read in the stored copy at commit 00c1b82722b50e9b1ae4999ccc97f932b2788b51, whose
match with the v4.20.0-rc5 tag could not be checked; cited by function, as line numbers
move between revisions): ``whitespace`` (blanks, ``--`` and ``/- -/`` comments; tabs
and carriage returns are errors), ``finishCommentBlock``, ``strLitFnAux`` and
``quotedCharCoreFn`` (escapes, string gaps), ``charLitFnAux``, ``rawStrLitFnAux``,
``takeDigitsFn``/``decimalNumberFn``/``numberFnAux`` (``1_000``, ``0x``, scientific),
``identFnAux``/``mkIdResult``/``isToken`` (identifiers, ``«»`` escapes, keywords),
``nameLitAux`` and ``tokenFnAux``, whose order is the specification: ``"`` string,
``'`` char literal unless ``''``, digit, `` ` `` name literal, ``r#"`` raw string,
else the longest token of the table against the identifier there (the token wins
when at least as long). Identifier characters are ``isIdFirst``/``isIdRest`` of
``src/Init/Meta.lean`` (stored copy at commit 0134bc5f7b0371728c9cf6eba22c79438c66577f:
``isLetterLike``, ``isSubScriptAlnum`` with ``ⱼ``); its Latin-1 letters are refused.

Lean's token table is every atom of every syntax declaration in scope; the
tables here (``data/tokens-*.txt``) are partial (Lean core and Mathlib could not
be read whole). So where the table decides whether a quote or comment opener is
an opener (one touching the token before it, or inside a symbol token), the
reading must be decided by tokens that are certainly active, or the text is
refused (``Lexed.problems``), never guessed. The rules assume the tables hold
every token that goes on past a shorter token (or past its first character) with
an identifier character or one of ``' " ` « - /``; a token the tables lack that
starts with a character no shipped token starts with is handled (the opener after
it is refused).

Linear: whole comments, strings and runs of identifier characters are found by
``str.find`` and compiled regexes, and each token costs at most the longest
table entry's length; ``max_tokens`` and ``deadline`` bound the rest.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import NamedTuple

from stepprover.errors import LexingStopped


class Kind(StrEnum):
    IDENT = "ident"
    HASH_COMMAND = "hash_command"
    STRING = "string"
    CHAR = "char"
    NUMBER = "number"
    SYMBOL = "symbol"


class Token(NamedTuple):
    kind: Kind
    text: str
    start: int
    """Offset of the first character in the source."""
    line: int
    """1-based line of the first character."""


class TokenList(list[Token]):
    """Tokens, with their bracket structure worked out once (in one pass) when first asked:
    the command scan and the prefilter look up brackets for every attribute and clause,
    and walking the list each time would be quadratic."""

    def __init__(self) -> None:
        super().__init__()
        self._forward: dict[str, list[int]] = {}
        self._backward: dict[str, list[int]] = {}

    def closing(self, i: int, pairs: str) -> int:
        """Index of the bracket closing the opener at ``i`` (brackets ``pairs``, e.g.
        ``"()[]{}"``, counted regardless of kind), or the last index when none does."""
        if pairs not in self._forward:
            opens, closes = set(pairs[0::2]), set(pairs[1::2])
            result = [len(self) - 1] * len(self)
            stack: list[int] = []
            for j, tok in enumerate(self):
                if tok.text in opens:
                    stack.append(j)
                elif tok.text in closes and stack:
                    result[stack.pop()] = j
            self._forward[pairs] = result
        return self._forward[pairs][i]

    def opening(self, j: int, pairs: str) -> int:
        """Index of the bracket opening the closer at ``j`` (0 when none does)."""
        if pairs not in self._backward:
            opens, closes = set(pairs[0::2]), set(pairs[1::2])
            result = [0] * len(self)
            stack: list[int] = []
            for k in range(len(self) - 1, -1, -1):
                text = self[k].text
                if text in closes:
                    stack.append(k)
                elif text in opens and stack:
                    result[stack.pop()] = k
            self._backward[pairs] = result
        return self._backward[pairs][j]


_new_token = tuple.__new__  # builds a Token without NamedTuple's Python-level __new__ (hot)


# --- identifier characters: src/Init/Meta.lean, isLetterLike / isSubScriptAlnum / isIdFirst ----
_LETTER_LIKE = (
    "\u03b1-\u03ba\u03bc-\u03c9"  # lower Greek but λ
    "\u0391-\u039f\u03a1\u03a2\u03a4-\u03a9"  # upper Greek but Π and Σ
    "\u03ca-\u03fb"  # Coptic
    "\u1f00-\u1ffe"  # polytonic Greek
    "\u2100-\u214f"  # letterlike block
    "\U0001d49c-\U0001d59f"  # script, double-struck, Fraktur
)
_SUBSCRIPT = "\u2080-\u2089\u2090-\u209c\u1d62-\u1d6a\u2c7c"  # ₀-₉, ₐ-ₜ, ᵢ-ᵪ, ⱼ
# Latin-1 letters (but × and ÷) and Latin Extended-A: identifier characters in the stored copy
# of Init/Meta.lean, whose revision could not be matched to v4.20.0-rc5. Undecided, so refused.
_UNCERTAIN = re.compile("[\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u017f]")
_ID_FIRST = "A-Za-z_" + _LETTER_LIKE
_ID_REST = _ID_FIRST + "0-9'!?" + _SUBSCRIPT
_ID_FIRST_RE = re.compile(f"[{_ID_FIRST}]")
_ID_REST_RUN = re.compile(f"[{_ID_REST}]*")
_PLAIN_IDENT = re.compile(f"[{_ID_FIRST}][{_ID_REST}]*")


_ASCII_ID_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")


def is_ident_start(c: str) -> bool:
    """Lean's ``isIdFirst``: ``Char.isAlpha`` is ASCII only, so e.g. Cyrillic letters are not
    identifier characters (reading them as such would let ``дelab`` hide an ``elab``)."""
    if c in _ASCII_ID_FIRST:
        return True
    return c > "\x7f" and _ID_FIRST_RE.fullmatch(c) is not None


def is_ident_rest(c: str) -> bool:
    return len(c) == 1 and _ID_REST_RUN.fullmatch(c) is not None


def is_plain_component(text: str) -> bool:
    """Whether a name component is written without guillemets (``isIdFirst`` then
    ``isIdRest``s)."""
    return _PLAIN_IDENT.fullmatch(text) is not None


# --- the token table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenTable:
    """Tokens Lean may have (``tokens``) and those active in every file (``certain``)."""

    tokens: frozenset[str]
    certain: frozenset[str] = frozenset()
    _lengths: dict[str, tuple[int, ...]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        by_first: dict[str, set[int]] = {}
        for t in self.tokens:
            by_first.setdefault(t[0], set()).add(len(t))
        self._lengths.update({c: tuple(sorted(ls, reverse=True)) for c, ls in by_first.items()})

    @property
    def max_length(self) -> int:
        return max((ls[0] for ls in self._lengths.values()), default=1)

    def longest(self, s: str, i: int, at_least: int = 1) -> int:
        """Length of the longest token that ``s`` has at ``i`` (0: none; only tokens of
        ``at_least`` characters are looked for), Lean's ``matchPrefix``."""
        n = len(s)
        for length in self._lengths.get(s[i], ()):
            if length < at_least:
                return 0
            if i + length <= n and s[i : i + length] in self.tokens:
                return length
        return 0

    def spans(self, s: str, p: int, lo: int) -> bool:
        """Whether some token matches ``s`` at a ``q`` in ``[lo, p)`` and runs past ``p``:
        then whether ``p`` starts a token at all depends on the table."""
        for q in range(p - 1, lo - 1, -1):
            for length in self._lengths.get(s[q], ()):
                if q + length <= p:
                    break
                if s[q : q + length] in self.tokens:
                    return True
        return False


@lru_cache(maxsize=1)
def _shipped() -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """Every token of ``data/tokens-*.txt`` (each file names its source and revision), and
    the tokens by flag (``certain``: core, active everywhere; ``mathlib``: with Mathlib)."""
    tokens: set[str] = set()
    flagged: dict[str, set[str]] = {}
    folder = resources.files("stepprover.lean") / "data"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not (entry.name.startswith("tokens-") and entry.name.endswith(".txt")):
            continue
        for line in entry.read_text(encoding="utf-8").splitlines():
            if not line or line.startswith("# "):  # a token never holds a space; `#eval` is one
                continue
            token, flags = [*line.split("\t"), "-"][:2]
            tokens.add(token)
            flagged.setdefault(flags, set()).add(token)
    return frozenset(tokens), {k: frozenset(v) for k, v in flagged.items()}


@lru_cache(maxsize=4)
def default_table(with_mathlib: bool = False) -> TokenTable:
    """The shipped tables; ``with_mathlib``: the text imports all of Mathlib, so Mathlib's
    unscoped tokens are active too."""
    tokens, flagged = _shipped()
    certain = flagged.get("certain", frozenset())
    if with_mathlib:
        certain |= flagged.get("mathlib", frozenset())
    return TokenTable(tokens, certain)


def table_for(modules: list[str] | tuple[str, ...]) -> TokenTable:
    """The table for a text importing ``modules``."""
    return default_table(with_mathlib="Mathlib" in modules)


# --- lexing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Where the text cannot be read as Lean reads it: refused, never guessed."""

    rule: str
    line: int
    reason: str


@dataclass(frozen=True)
class Lexed:
    tokens: TokenList
    unterminated: str | None
    """"comment", "string" or "identifier escape" when the text ends inside one, else None."""
    ambiguous: list[int] = field(default_factory=list)
    """Lines of ``/-/…`` and ``/--/…`` block comments: Lean starts the body one character
    after the opener's third (read so here too), but no honest text needs it; refused."""
    problems: list[Problem] = field(default_factory=list)
    """Lexical errors (Lean stops there), undecidable openers, and exhausted limits."""


LIMIT_RULES = frozenset({"too many tokens", "time limit", "overlong identifier"})
"""Problems after which the rest of the text is not read."""
MAX_IDENT_LENGTH = 1000
"""Characters of one identifier (all its components); longer is refused."""
DEFAULT_MAX_TOKENS = 40_000
"""About three times the most tokens of a published miniF2F proof (13,418); more is refused."""
_OPENER_CHARS = frozenset("'\"`«")
_COMMENT_DELIM = re.compile(r"-/|/-")
_BLANKS = re.compile(r"(?:[ \n]+|--[^\n]*)+")  # blanks and line comments, in one match
_STRING_SPECIAL = re.compile(r'["\\]')
_HEX = re.compile(r"[0-9a-fA-F]")
_DECIMAL = re.compile(r"[0-9](?:_*[0-9])*")
_DIGITS = {
    "b": re.compile(r"(?:_*[01])+"),
    "o": re.compile(r"(?:_*[0-7])+"),
    "x": re.compile(r"(?:_*[0-9a-fA-F])+"),
}
_RAW_START = re.compile(r'r(#*)"')
_PIECES = re.compile(f"(?P<ident>[{_ID_FIRST}][{_ID_REST}]*)|.", re.DOTALL)
_LIMIT_CHECK_EVERY = 2048


def tokenize(
    source: str,
    table: TokenTable | None = None,
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    deadline: float | None = None,
) -> Lexed:
    """Split Lean source into tokens as Lean's tokenizer does, dropping whitespace and comments.

    ``deadline`` is a ``time.monotonic()`` value; past it, lexing stops with a problem.
    """
    return _Lexer(source, table or default_table(), max_tokens, deadline).run()


class _Lexer:
    def __init__(self, s: str, table: TokenTable, max_tokens: int, deadline: float | None):
        self.s, self.n, self.table = s, len(s), table
        self.max_tokens, self.deadline = max_tokens, deadline
        self.tokens = TokenList()
        self.problems: list[Problem] = []
        self.ambiguous: list[int] = []
        self.unterminated: str | None = None
        self._line, self._line_pos = 1, 0
        self.prev_end = -1
        """End of the last code token; an opener exactly there touches it."""
        self.prev_decided = True
        """Whether that token's extent is the table's to decide (False: an unknown symbol)."""
        self.glue = 0
        """Start of the run of code tokens with nothing between them (tokens never cross it)."""
        self.end = 0
        """End of the last token."""
        self.prev_table = ""
        """The table token that ends at ``prev_end`` ("" when that is no table token)."""
        self.reach = table.max_length

    def line(self, i: int) -> int:
        self._line += self.s.count("\n", self._line_pos, i)
        self._line_pos = i
        return self._line

    def problem(self, rule: str, i: int, reason: str) -> None:
        self.problems.append(Problem(rule, self.line(i), reason))

    def stop(self, rule: str, i: int, reason: str) -> LexingStopped:
        self.problem(rule, i, reason)
        return LexingStopped()

    def run(self) -> Lexed:
        try:
            self._scan()
        except LexingStopped:
            pass
        return Lexed(self.tokens, self.unterminated, self.ambiguous, self.problems)

    def emit(self, kind: Kind, start: int, end: int, *, decided: bool = True) -> None:
        if start != self.prev_end:
            self.glue = start
        elif not self.prev_decided:
            # it touches a token whose extent Lean may see otherwise: so is its start
            decided = False
            if kind is Kind.IDENT and "'" in self.s[start:end]:
                self.problem(
                    "ambiguous opener",
                    start,
                    f"`{self.s[start:end]}` follows a symbol not certainly known here, so Lean "
                    "may read its `'` as a character literal",
                )
        self.prev_table = ""
        self._line += self.s.count("\n", self._line_pos, start)
        self._line_pos = start
        self.tokens.append(_new_token(Token, (kind, self.s[start:end], start, self._line)))
        self.end = end
        if kind in (Kind.STRING, Kind.CHAR):
            self.prev_end = -1  # a literal's end is no token's to move
        else:
            self.prev_end, self.prev_decided = end, decided
        if len(self.tokens) % _LIMIT_CHECK_EVERY == 0:
            if len(self.tokens) >= self.max_tokens:
                raise self.stop("too many tokens", end, f"over {self.max_tokens} tokens")
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise self.stop("time limit", end, "reading the text ran out of time")

    def touch(self, p: int, what: str) -> None:
        """An opener at ``p``: if it touches the token before it, that token's end must not
        depend on the table (no token of the table runs across ``p``)."""
        if p != self.prev_end:
            return
        s = self.s
        # after an identifier character, a `'` or the `r` of `r"…"` could be part of an
        # identifier Lean started earlier (after a shorter token than the one read here):
        # decided only after a certainly active token or a number that starts a word
        absorbed = s[p] in "'r" and is_ident_rest(s[p - 1]) and not self._word_ends_here()
        if (
            absorbed
            or not self.prev_decided
            or self.table.spans(s, p, max(self.glue, p - self.reach))
        ):
            self.problem(
                "ambiguous opener",
                p,
                f"{what} touches the symbol before it, and whether Lean reads it as one "
                "depends on tokens not certainly known here",
            )

    def _word_ends_here(self) -> bool:
        """Whether no identifier Lean may read runs on past the last token: it is a certainly
        active table token, or a number after a character no identifier holds."""
        if self.prev_table:
            return self.prev_table in self.table.certain
        last = self.tokens[-1]
        return last.kind is Kind.NUMBER and (
            last.start == 0 or not is_ident_rest(self.s[last.start - 1])
        )

    def _scan(self) -> None:
        s, n = self.s, self.n
        i = 0
        while True:
            i = self._whitespace(i)
            if i >= n:
                return
            c = s[i]
            if c == '"':
                self.touch(i, "a string")
                self.emit(Kind.STRING, i, self._string_end(i))
            elif c == "'" and s[i + 1 : i + 2] != "'":
                self.touch(i, "a character literal")
                self.emit(Kind.CHAR, i, self._char_end(i))
            elif "0" <= c <= "9":
                self.emit(Kind.NUMBER, i, self._number_end(i))
            elif c == "`" and i + 1 < n and (is_ident_start(s[i + 1]) or s[i + 1] == "«"):
                # a name literal (nameLitAux), handed on as `` ` `` and the name, so the
                # prefilter judges the name as it judges any identifier
                self.touch(i, "a name literal")
                end = self._ident_end(i + 1)
                self.emit(Kind.SYMBOL, i, i + 1)
                self.emit(Kind.IDENT, i + 1, end)
            elif c == "r" and (raw := _RAW_START.match(s, i)):
                self.touch(i, "a raw string")
                closing = '"' + raw.group(1)
                end = s.find(closing, raw.end())
                if end < 0:
                    self.unterminated = "string"
                    raise LexingStopped()
                self.emit(Kind.STRING, i, end + len(closing))
            else:
                self._token(i)
            i = self.end

    def _whitespace(self, i: int) -> int:
        """Lean's ``whitespace``: blanks, ``--`` line comments, ``/- -/`` block comments
        (doc comments too, whose bodies ``commentBody`` reads with ``finishCommentBlock``)."""
        s, n = self.s, self.n
        while i < n:
            c = s[i]
            if c == " " or c == "\n":
                # every `--` in the match follows a blank or a newline: none touches a token
                i = _BLANKS.match(s, i).end()  # type: ignore[union-attr]  # c matches
            elif c == "\t" or c == "\r":
                what = "a tab" if c == "\t" else "a carriage return"
                raise self.stop("lexical error", i, f"{what}: Lean stops parsing there")
            elif c == "-" and s.startswith("-", i + 1):
                self.touch(i, "a `--` comment")
                end = s.find("\n", i)
                i = n if end < 0 else end
            elif c == "/" and s.startswith("-", i + 1):
                doc = s[i + 2 : i + 3] in ("-", "!")
                if doc and self.table.longest(s, i) > 3:
                    return i  # `/--` and `/-!` are tokens: a longer one is read instead
                self.touch(i, "a `/-` comment")
                if s.startswith("/-/", i) or s.startswith("/--/", i):
                    self.ambiguous.append(self.line(i))
                # the body starts after the third character (`/-x`, `/--`, `/-!`), and a doc
                # comment's after the blanks and comments that follow its opener
                depth = 1
                for m in _COMMENT_DELIM.finditer(s, self._doc_lead(i + 3) if doc else i + 3):
                    depth += 1 if m.group() == "/-" else -1
                    if depth == 0:
                        i = m.end()
                        break
                else:
                    self.unterminated = "comment"
                    raise LexingStopped()
            else:
                return i
        return i

    def _doc_lead(self, j: int) -> int:
        """Where a doc comment's body starts, its opener ending at ``j``: ``/--`` and ``/-!``
        are tokens (``docComment``, ``moduleDoc``), and Lean reads the whitespace after a token
        (``mkTokenAndFixPos`` calls ``whitespace``) before the body (``commentBody``). So a
        ``--`` there is a line comment whose ``-/`` ends nothing, and a tab or carriage return
        is an error inside the comment, after which Lean's recovery reads the rest of it as
        commands. A block comment there is refused (no doc needs one)."""
        s, n = self.s, self.n
        while j < n:
            c = s[j]
            if c == " " or c == "\n":
                j += 1
            elif c == "\t" or c == "\r":
                what = "a tab" if c == "\t" else "a carriage return"
                raise self.stop(
                    "lexical error",
                    j,
                    f"{what} after a doc comment's opener: Lean stops there and reads the rest "
                    "of the comment as commands",
                )
            elif s.startswith("--", j):
                end = s.find("\n", j)
                if end < 0:
                    self.unterminated = "comment"
                    raise LexingStopped()
                j = end
            elif s.startswith("/-", j) and s[j + 2 : j + 3] not in ("-", "!"):
                self.problem(
                    "ambiguous comment",
                    j,
                    "a block comment right after a doc comment's opener, which Lean reads "
                    "before the body; no doc needs one",
                )
                return j  # refused; read on as a nested comment
            else:
                return j
        return j

    def _string_end(self, i: int) -> int:
        s = self.s
        j = i + 1
        while True:
            m = _STRING_SPECIAL.search(s, j)
            if m is None:
                self.unterminated = "string"
                raise LexingStopped()
            k = m.start()
            if s[k] == '"':
                return k + 1
            j = self._escape(k + 1, in_string=True)

    def _escape(self, j: int, *, in_string: bool) -> int:
        """``quotedCharCoreFn`` after a backslash at ``j - 1``: the end of the escape."""
        s = self.s
        c = s[j : j + 1]
        if c and c in "\\\"'rnt":
            return j + 1
        if c == "x" and self._hex(j + 1, 2):
            return j + 3
        if c == "u" and self._hex(j + 1, 4):
            return j + 5
        if in_string and c == "\n":  # stringGapFn: one newline, then blanks
            k = j + 1
            while k < self.n and s[k] in " \t\r":
                k += 1
            if s.startswith("\n", k):
                raise self.stop("lexical error", k, "a second newline in a string gap")
            return k
        if not c and in_string:
            self.unterminated = "string"
            raise LexingStopped()
        raise self.stop("lexical error", j, f"invalid escape `\\{c}`: Lean stops parsing there")

    def _hex(self, j: int, count: int) -> bool:
        return all(_HEX.fullmatch(self.s[k : k + 1]) for k in range(j, j + count))

    def _char_end(self, i: int) -> int:
        s = self.s
        j = i + 1
        if j >= self.n:
            raise self.stop("lexical error", i, "a `'` at the end of the text")
        j = self._escape(j + 1, in_string=False) if s[j] == "\\" else j + 1
        if not s.startswith("'", j):
            raise self.stop("lexical error", i, "a character literal without its closing `'`")
        return j + 1

    def _number_end(self, i: int) -> int:
        s = self.s
        if s[i] == "0" and (base := s[i + 1 : i + 2].lower()) in _DIGITS:
            m = _DIGITS[base].match(s, i + 2)
            if m is None:
                raise self.stop("lexical error", i, "a numeral prefix without digits")
            return self._digits_end(m.end(), i)
        j = self._digits_end(_DECIMAL.match(s, i).end(), i)  # type: ignore[union-attr]
        if s[j : j + 1] not in (".", "e", "E"):
            return j
        if s[j] == ".":  # parseOptDot: the dot belongs to the number even without digits
            j += 1
            if "0" <= s[j : j + 1] <= "9":
                j = self._digits_end(_DECIMAL.match(s, j).end(), i)  # type: ignore[union-attr]
        if s[j : j + 1] in ("e", "E"):
            k = j + 1
            if s[k : k + 1] in ("+", "-"):
                k += 1
            m = _DECIMAL.match(s, k)
            if m is None:
                raise self.stop("lexical error", i, "a scientific literal without exponent digits")
            j = self._digits_end(m.end(), i)
        return j

    def _digits_end(self, j: int, start: int) -> int:
        if self.s.startswith("_", j):  # takeDigitsFn: `_` must be followed by a digit
            raise self.stop("lexical error", start, "a numeral ending in `_`")
        return j

    def _ident_end(self, i: int) -> int:
        """``identFnAux``: the end of a dotted, possibly «escaped» identifier at ``i``."""
        s, n = self.s, self.n
        start = i
        while True:
            if s.startswith("«", i):
                close = s.find("»", i + 1)
                if close < 0:
                    self.unterminated = "identifier escape"
                    raise LexingStopped()
                i = close + 1
            else:
                i = _ID_REST_RUN.match(s, i + 1).end()  # type: ignore[union-attr]
            if i - start > MAX_IDENT_LENGTH:
                raise self.stop(
                    "overlong identifier",
                    start,
                    f"an identifier over {MAX_IDENT_LENGTH} characters",
                )
            if i + 1 < n and s[i] == "." and (is_ident_start(s[i + 1]) or s[i + 1] == "«"):
                i += 1
                continue
            return i

    def _token(self, i: int) -> None:
        """The last branch of ``tokenFnAux``: the table's longest token against the identifier."""
        s, table = self.s, self.table
        c = s[i]
        if is_ident_start(c) or c == "«":
            if c == "«":
                self.touch(i, "an identifier escape")
            end = self._ident_end(i)
            # isToken: a keyword (a token at least as long as the identifier) wins over it
            length = table.longest(s, i, at_least=end - i)
            if length:
                self._symbol(i, i + length)
            else:
                self.emit(Kind.IDENT, i, end)
            return
        length = table.longest(s, i)
        if _UNCERTAIN.match(c):
            raise self.stop(
                "uncertain identifier character",
                i,
                f"`{c}` is an identifier character in some Lean versions and not in others",
            )
        if c == "#" and length < 2 and i + 1 < self.n and is_ident_start(s[i + 1]):
            # `#` then an identifier (Lean reads the two; one word here, for the prefilter)
            self.emit(Kind.HASH_COMMAND, i, self._ident_end(i + 1), decided=False)
            return
        if length == 1 and c not in "/-":  # the common case: one character, no opener inside
            self.emit(Kind.SYMBOL, i, i + 1)
        elif length:
            self._symbol(i, i + length)
        else:  # no token here: Lean stops with an error, unless its table has one we lack
            self.emit(Kind.SYMBOL, i, i + 1, decided=False)

    def _symbol(self, i: int, end: int) -> None:
        text = self.s[i:end]
        plain = _PLAIN_IDENT.fullmatch(text) is not None  # a keyword: the identifier's extent
        # `--` or `/-` from the token's second character on, also one closed by the next
        # character (`<-` then `-`: a Lean without `<-` reads `<` and a comment)
        inner = self.s[i + 1 : end + 1]
        if not plain and (
            any(ch in _OPENER_CHARS for ch in text[1:]) or "--" in inner or "/-" in inner
        ):
            # a quote inside a token (`×'`): Lean reads it as part of the token only if the
            # token is active and starts here, so only certainly active tokens may hold one
            if text not in self.table.certain:
                self.problem(
                    "ambiguous opener",
                    i,
                    f"`{text}` holds a quote or comment opener and is not certainly a token",
                )
            self.touch(i, f"`{text}`")
        if plain:
            self.emit(Kind.IDENT, i, end)
        elif text[0] == "#" and _PLAIN_IDENT.fullmatch(text[1:]):
            self.emit(Kind.HASH_COMMAND, i, end)
        else:
            # handed on one character a token (identifier runs whole), as the command scan
            # reads symbols (`:` `=`, `@` `[`); Lean's extent only decides the openers above
            for m in _PIECES.finditer(self.s, i, end):
                kind = Kind.IDENT if m.lastgroup == "ident" else Kind.SYMBOL
                self.emit(kind, m.start(), m.end())
        self.prev_table = text


def reading(source: str, lexed: Lexed) -> str:
    """Which characters of ``source`` are code: ``c`` (a token), ``s`` (inside a string or
    character literal), `` `` (blank or comment); one character a character of the text."""
    marks = [" "] * len(source)
    for tok in lexed.tokens:
        mark = "s" if tok.kind in (Kind.STRING, Kind.CHAR) else "c"
        marks[tok.start : tok.start + len(tok.text)] = mark * len(tok.text)
    return "".join(marks)
