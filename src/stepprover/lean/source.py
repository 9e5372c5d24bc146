"""Reading Lean source: the import block, declared theorem names, statements."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from stepprover.lean.lexer import Kind, tokenize

THEOREM_KEYWORDS = frozenset({"theorem", "lemma"})


@dataclass(frozen=True)
class SplitSource:
    """A Lean text cut into its leading import block and the rest."""

    imports: str
    """The import commands, one per line (``import A\\nimport B``), the pool's key."""
    body: str
    """Everything after the last import line, unchanged."""
    body_line_offset: int
    """Lines before the body in the original text (add to body positions for file positions)."""


def split_imports(code: str) -> SplitSource:
    """Separate the leading ``import`` lines (and comments among them) from the body."""
    lexed = tokenize(code)
    tokens = lexed.tokens
    modules: list[str] = []
    body_start = 0
    i = 0
    while i < len(tokens) and tokens[i].kind is Kind.IDENT and tokens[i].text == "import":
        line = tokens[i].line
        i += 1
        while i < len(tokens) and tokens[i].line == line and tokens[i].kind is Kind.IDENT:
            modules.append(tokens[i].text)
            i += 1
        end_of_line = code.find("\n", tokens[i - 1].start)
        body_start = len(code) if end_of_line < 0 else end_of_line + 1
    imports = "\n".join(f"import {m}" for m in modules)
    return SplitSource(imports, code[body_start:], code.count("\n", 0, body_start))


def declared_theorems(code: str) -> list[str]:
    """Names declared with ``theorem``/``lemma`` in ``code``, in order."""
    tokens = tokenize(code).tokens
    return [
        nxt.text
        for tok, nxt in pairwise(tokens)
        if tok.kind is Kind.IDENT and tok.text in THEOREM_KEYWORDS and nxt.kind is Kind.IDENT
    ]


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
