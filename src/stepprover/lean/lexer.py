"""Just enough of Lean 4's lexical structure to read source text safely.

The tokenizer skips comments (``--`` lines and nested ``/- ... -/`` blocks,
doc comments included) and keeps string and character literals whole, so that
a word inside a comment or a string is never mistaken for a command. It is not
a parser: identifiers, ``#commands``, numbers, literals and single symbols are
all it knows, which is what the prefilter and the header splitter need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    IDENT = "ident"
    HASH_COMMAND = "hash_command"
    STRING = "string"
    CHAR = "char"
    NUMBER = "number"
    SYMBOL = "symbol"


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str
    start: int
    """Offset of the first character in the source."""
    line: int
    """1-based line of the first character."""


def _is_letter_like(c: str) -> bool:
    # Lean's `isLetterLike`: Greek (but λ, Π, Σ), Coptic, polytonic Greek, letterlike symbols.
    o = ord(c)
    return (
        (0x3B1 <= o <= 0x3C9 and o != 0x3BB)
        or (0x391 <= o <= 0x3A9 and o not in (0x3A0, 0x3A3))
        or 0x3CA <= o <= 0x3FB
        or 0x1F00 <= o <= 0x1FFE
        or 0x2100 <= o <= 0x214F
        or 0x1D49C <= o <= 0x1D59F
    )


def _is_subscript(c: str) -> bool:
    o = ord(c)
    return 0x2080 <= o <= 0x2089 or 0x2090 <= o <= 0x209C or 0x1D62 <= o <= 0x1D6A


def is_ident_start(c: str) -> bool:
    # Lean's `isIdFirst`: `Char.isAlpha` is ASCII only, so e.g. Cyrillic letters are not
    # identifier characters (reading them as such would let `дelab` hide an `elab`).
    return ("a" <= c <= "z") or ("A" <= c <= "Z") or c == "_" or _is_letter_like(c)


def is_ident_rest(c: str) -> bool:
    return is_ident_start(c) or ("0" <= c <= "9") or c in "'!?" or _is_subscript(c)


# Lean's `charLitFnAux` (src/Lean/Parser/Basic.lean): `'` not followed by `'`, then one character
# (a newline too) or an escape of `quotedCharCoreFn` (`\\ \" \' \r \n \t`, `\xHH`, `\uHHHH`),
# then `'`.
_CHAR_LITERAL = re.compile(
    r"'(?:\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|[\\\"'rnt])|[^\\'])'", re.DOTALL
)
_RAW_STRING = re.compile(r'r(#*)"')
# Lean's `numberFnAux`: 0x/0b/0o literals, else decimal digits with an optional fraction and
# exponent. A letter right after a number starts a new token (`2r"…"` is 2 and a raw string).
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
)


@dataclass(frozen=True)
class Lexed:
    tokens: list[Token]
    unterminated: str | None
    """"comment", "string" or "identifier escape" when the text ends inside one, else None."""
    ambiguous: list[int] = field(default_factory=list)
    """Lines of block comments whose extent Lean may read differently from this lexer
    (``/-/…`` and ``/--/…``: Lean starts the comment's body one character later than its
    opener suggests). Never honest; refused, since text hidden in one reading is code
    in the other."""


def tokenize(source: str) -> Lexed:
    """Split Lean source into tokens, dropping whitespace and comments."""
    return Lexed(*_scan(source))


def _scan(s: str) -> tuple[list[Token], str | None, list[int]]:
    tokens: list[Token] = []
    ambiguous: list[int] = []
    i, n, line = 0, len(s), 1

    def emit(kind: Kind, end: int) -> None:
        tokens.append(Token(kind, s[i:end], i, line))

    while i < n:
        c = s[i]
        if c.isspace():
            end = i + 1
        elif s.startswith("--", i):
            end = s.find("\n", i)
            end = n if end < 0 else end
        elif s.startswith("/-", i):
            if s.startswith("/-/", i) or s.startswith("/--/", i):
                ambiguous.append(line)
            end = _block_comment_end(s, i)
            if end < 0:
                return tokens, "comment", ambiguous
        elif c == '"' or _RAW_STRING.match(s, i):
            end = _string_end(s, i)
            if end < 0:
                return tokens, "string", ambiguous
            emit(Kind.STRING, end)
        elif c == "'" and (m := _CHAR_LITERAL.match(s, i)):
            end = m.end()
            emit(Kind.CHAR, end)
        elif c == "#" and i + 1 < n and is_ident_start(s[i + 1]):
            end = _ident_end(s, i + 1)
            if end < 0:
                return tokens, "identifier escape", ambiguous
            emit(Kind.HASH_COMMAND, end)
        elif is_ident_start(c) or c == "«":
            end = _ident_end(s, i)
            if end < 0:
                return tokens, "identifier escape", ambiguous
            emit(Kind.IDENT, end)
        elif "0" <= c <= "9":
            end = _NUMBER.match(s, i).end()  # type: ignore[union-attr]  # a digit always matches
            emit(Kind.NUMBER, end)
        else:
            end = i + 1
            emit(Kind.SYMBOL, end)
        line += s.count("\n", i, end)
        i = end
    return tokens, None, ambiguous


def _block_comment_end(s: str, i: int) -> int:
    """End offset of the (nested) block comment starting at ``i``, or -1 if unterminated."""
    depth, j = 0, i
    while j < len(s):
        if s.startswith("/-", j):
            depth += 1
            j += 2
        elif s.startswith("-/", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j
        else:
            j += 1
    return -1


def _string_end(s: str, i: int) -> int:
    raw = _RAW_STRING.match(s, i)
    if raw:
        closing = '"' + raw.group(1)
        end = s.find(closing, raw.end())
        return -1 if end < 0 else end + len(closing)
    j = i + 1
    while j < len(s):
        if s[j] == "\\":
            j += 2
        elif s[j] == '"':
            return j + 1
        else:
            j += 1
    return -1


def _ident_end(s: str, i: int) -> int:
    """End of a (possibly dotted, possibly «escaped») identifier starting at ``i``, or -1 when
    a « is never closed (Lean reports an error there and resumes parsing after it)."""
    n = len(s)
    while True:
        if i < n and s[i] == "«":
            close = s.find("»", i + 1)
            if close < 0:
                return -1
            i = close + 1
        else:
            while i < n and is_ident_rest(s[i]):
                i += 1
        if i + 1 < n and s[i] == "." and (is_ident_start(s[i + 1]) or s[i + 1] == "«"):
            i += 1
            continue
        return i
