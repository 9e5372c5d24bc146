"""A second port of Lean's tokenizer, written to follow the source line by line (one
character a step, no regexes, no shortcuts), for checking the prefilter's lexer against.

Transcribed from leanprover/lean4 src/Lean/Parser/Basic.lean (stored copy at commit
00c1b82722b50e9b1ae4999ccc97f932b2788b51): ``whitespace``, ``finishCommentBlock``,
``quotedCharCoreFn``, ``stringGapFn``, ``charLitFnAux``, ``strLitFnAux``,
``isRawStrLitStart``/``rawStrLitFnAux``, ``takeDigitsFn``/``decimalNumberFn``/
``numberFnAux``, ``isIdCont``/``identFnAux``/``mkIdResult``, ``nameLitAux``,
``tokenFnAux``; doc comments as ``docComment``/``moduleDoc`` read them (the token,
then ``commentBody``). Identifier characters: src/Init/Meta.lean without the
Latin-1 ranges (the prefilter refuses those). Any token set stands for Lean's table.
"""

from __future__ import annotations


class LeanError(Exception):
    """Where Lean's tokenizer stops with an error."""

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.pos = pos


def _letter_like(c: str) -> bool:
    v = ord(c)
    return (
        (0x3B1 <= v <= 0x3C9 and v != 0x3BB)
        or (0x391 <= v <= 0x3A9 and v != 0x3A0 and v != 0x3A3)
        or 0x3CA <= v <= 0x3FB
        or 0x1F00 <= v <= 0x1FFE
        or 0x2100 <= v <= 0x214F
        or 0x1D49C <= v <= 0x1D59F
    )


def _subscript(c: str) -> bool:
    v = ord(c)
    return 0x2080 <= v <= 0x2089 or 0x2090 <= v <= 0x209C or 0x1D62 <= v <= 0x1D6A or v == 0x2C7C


def _alpha(c: str) -> bool:
    return "a" <= c <= "z" or "A" <= c <= "Z"


def _digit(c: str) -> bool:
    return "0" <= c <= "9"


def id_first(c: str) -> bool:
    return _alpha(c) or c == "_" or _letter_like(c)


def id_rest(c: str) -> bool:
    return id_first(c) or _digit(c) or c in "'!?" or _subscript(c)


class ReferenceLexer:
    def __init__(self, s: str, tokens: set[str]) -> None:
        self.s, self.n, self.tokens = s, len(s), tokens
        self.longest = max((len(t) for t in tokens), default=1)
        self.marks = [" "] * len(s)

    def get(self, i: int) -> str:
        return self.s[i] if i < self.n else "\0"  # String.get past the end: the default char

    def mark(self, a: int, b: int, m: str) -> None:
        for k in range(a, min(b, self.n)):
            self.marks[k] = m

    def whitespace(self, i: int) -> int:
        while i < self.n:
            c = self.s[i]
            if c in "\t\r":
                raise LeanError(i)
            if c == " " or c == "\n":
                i += 1
            elif c == "-":
                if self.get(i + 1) != "-":
                    return i
                i += 2
                while i < self.n and self.s[i] != "\n":
                    i += 1
            elif c == "/":
                if self.get(i + 1) != "-":
                    return i
                if self.get(i + 2) in "-!":
                    return i  # `/--` and `/-!` are tokens
                i = self.finish_comment(i + 3, 1)
            else:
                return i
        return i

    def finish_comment(self, i: int, nesting: int) -> int:
        while True:
            if i >= self.n:
                raise LeanError(i)
            c = self.s[i]
            i += 1
            if c == "-":
                if i >= self.n:
                    raise LeanError(i)
                if self.s[i] == "/":
                    i += 1
                    nesting -= 1
                    if nesting == 0:
                        return i
            elif c == "/":
                if i >= self.n:
                    raise LeanError(i)
                if self.s[i] == "-":
                    i += 1
                    nesting += 1

    def hex_digit(self, i: int) -> int:
        c = self.get(i)
        if i >= self.n or not (_digit(c) or "a" <= c <= "f" or "A" <= c <= "F"):
            raise LeanError(i)
        return i + 1

    def quoted(self, i: int, in_string: bool) -> int:
        if i >= self.n:
            raise LeanError(i)
        c = self.s[i]
        if c in "\\\"'rnt":
            return i + 1
        if c == "x":
            return self.hex_digit(self.hex_digit(i + 1))
        if c == "u":
            i += 1
            for _ in range(4):
                i = self.hex_digit(i)
            return i
        if in_string and c == "\n":
            seen = False
            while i < self.n:
                c = self.s[i]
                if c == "\n":
                    if seen:
                        raise LeanError(i)
                    seen = True
                elif c not in " \t\r":
                    return i
                i += 1
            return i
        raise LeanError(i)

    def char_lit(self, start: int) -> int:
        i = start + 1
        if i >= self.n:
            raise LeanError(i)
        c = self.s[i]
        i += 1
        if c == "\\":
            i = self.quoted(i, False)
        if self.get(i) != "'" or i >= self.n:
            raise LeanError(i)
        return i + 1

    def str_lit(self, start: int) -> int:
        i = start + 1
        while True:
            if i >= self.n:
                raise LeanError(start)
            c = self.s[i]
            i += 1
            if c == '"':
                return i
            if c == "\\":
                i = self.quoted(i, True)

    def raw_start(self, i: int) -> bool:
        while i < self.n and self.s[i] == "#":
            i += 1
        return i < self.n and self.s[i] == '"'

    def raw_lit(self, start: int) -> int:
        i, num = start + 1, 0
        while self.s[i] == "#":
            num += 1
            i += 1
        i += 1  # the opening quote
        while True:  # normalState / closingState
            if i >= self.n:
                raise LeanError(start)
            c = self.s[i]
            i += 1
            if c == '"':
                if num == 0:
                    return i
                closing = 0
                while True:
                    if i >= self.n:
                        raise LeanError(start)
                    c = self.s[i]
                    i += 1
                    if c == "#":
                        closing += 1
                        if closing == num:
                            return i
                    elif c == '"':
                        closing = 0
                    else:
                        break

    def digits(self, i: int, is_digit: object, need: bool) -> int:
        check = is_digit  # type: ignore[assignment]
        while True:
            c = self.get(i)
            if i >= self.n:
                if need:
                    raise LeanError(i)
                return i
            if c == "_":
                need = True
                i += 1
            elif check(c):  # type: ignore[operator]
                need = False
                i += 1
            elif need:
                raise LeanError(i)
            else:
                return i

    def number(self, start: int) -> int:
        c = self.s[start]
        if c == "0" and self.get(start + 1) in "bB" and start + 1 < self.n:
            return self.digits(start + 2, lambda d: d in "01", True)
        if c == "0" and self.get(start + 1) in "oO" and start + 1 < self.n:
            return self.digits(start + 2, lambda d: "0" <= d <= "7", True)
        if c == "0" and self.get(start + 1) in "xX" and start + 1 < self.n:
            return self.digits(
                start + 2, lambda d: _digit(d) or "a" <= d <= "f" or "A" <= d <= "F", True
            )
        i = self.digits(start + 1, _digit, False)
        if i >= self.n or self.s[i] not in ".eE":
            return i
        if self.get(i) == ".":
            i += 1
            if _digit(self.get(i)) and i < self.n:
                i = self.digits(i, _digit, False)
        if self.get(i) in "eE" and i < self.n:
            i += 1
            if self.get(i) in "-+" and i < self.n:
                i += 1
            if not (_digit(self.get(i)) and i < self.n):
                raise LeanError(i)
            i = self.digits(i, _digit, False)
        return i

    def ident(self, start: int, tk: int) -> int:
        """identFnAux with the table's longest token at ``start`` (``tk`` characters, 0: none);
        the end of the identifier or token read."""
        i = start
        while True:
            if i >= self.n:
                raise LeanError(i)
            c = self.s[i]
            if c == "«":
                j = i + 1
                while j < self.n and self.s[j] != "»":
                    j += 1
                if j >= self.n:
                    raise LeanError(i + 1)
                i = j + 1
            elif id_first(c):
                i += 1
                while i < self.n and id_rest(self.s[i]):
                    i += 1
            else:
                if not tk:
                    raise LeanError(start)
                return start + tk
            if (
                self.get(i) == "."
                and i + 1 < self.n
                and (id_first(self.s[i + 1]) or self.s[i + 1] == "«")
            ):
                i += 1
                continue
            return start + tk if tk and tk >= i - start else i

    def match_prefix(self, i: int) -> int:
        for length in range(min(self.longest, self.n - i), 0, -1):
            if self.s[i : i + length] in self.tokens:
                return length
        return 0

    def run(self) -> tuple[str, int | None]:
        """The reading (``lexer.reading``'s marks) and where Lean stops with an error (or None)."""
        i = start = 0
        try:
            while True:
                start = i
                i = self.whitespace(i)
                start = i
                if i >= self.n:
                    return "".join(self.marks), None
                c = self.s[i]
                if c == '"':
                    end, m = self.str_lit(i), "s"
                elif c == "'" and self.get(i + 1) != "'":
                    end, m = self.char_lit(i), "s"
                elif _digit(c):
                    end, m = self.number(i), "c"
                elif c == "`" and (id_first(self.get(i + 1)) or self.get(i + 1) == "«"):
                    end, m = self.ident(i + 1, 0), "c"
                elif c == "r" and self.raw_start(i + 1):
                    end, m = self.raw_lit(i), "s"
                else:
                    end, m = self.ident(i, self.match_prefix(i)), "c"
                    if self.s[i:end] in ("/--", "/-!"):
                        # docComment: the token, its trailing whitespace, then commentBody
                        end, m = self.finish_comment(self.whitespace(end), 1), " "
                self.mark(i, end, m)
                i = end
        except LeanError as err:
            # Lean stops in the token begun at `start` (or in the blanks before it)
            return "".join(self.marks), min(err.pos, start)


def reference_reading(source: str, tokens: set[str]) -> tuple[str, int | None]:
    return ReferenceLexer(source, tokens).run()
