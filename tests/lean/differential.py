"""Generated texts on which the prefilter's lexer and the reference port must agree.

Each case draws Lean's table (the tokens certainly active, a random part of the
shipped table, and tokens the shipped table lacks: ones starting with a character
no shipped token starts with, anything after it, and extensions of shipped tokens
by symbol characters, which the rules assume are the only kind the shipped table
may lack) and a text mixing table tokens, quotes, comment openers, identifiers,
brackets, numbers and newlines. A case fails when the prefilter's lexer reports
no problem and reads some character differently (code, literal, or neither) from
the reference before the reference stops at a Lean error.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from stepprover.lean.lexer import TokenTable, default_table, reading, tokenize
from tests.lean.reference_lexer import reference_reading

_PIECES = [
    "'", '"', "''", "--", "/-", "-/", "/--", "/-!", "\\", "`", "«", "»", "r", "r#", "#",
    " ", " ", " ", "\n", "\n", "(", ")", "[", "]", "{", "}", "⟨", "⟩", ",", ".", ":", "=",
    "a", "h'", "x₁", "xⱼ", "«a b»", "ℕ", "e", "_", "1", "0x", "2.", "1_0", "x", "n",
    "'a'", '"s"', "⊹", "‡", "-", "/", "!", "?", "*", "+",
]  # fmt: skip

_TAIL = [p for p in _PIECES if p and p.strip() == p] + ["a", "x"]
_UNKNOWN_START = "⊹‡"  # no shipped token starts with these
_EXTENSION = "()[]{}+*<>=|&^~,;:⟨⟩"  # symbol characters: neither identifier nor opener


@dataclass
class Outcome:
    cases: int = 0
    accepted: int = 0
    """Texts the prefilter's lexer read without a problem."""
    failures: list[tuple[str, list[str]]] = field(default_factory=list)
    """Accepted texts read differently, with the tokens Lean's table had beyond the shipped."""


def _lean_table(
    rng: random.Random, shipped: TokenTable, known: list[str], plain: list[str]
) -> tuple[set[str], list[str]]:
    table = set(shipped.certain)
    table.update(t for t in known if rng.random() < 0.7)
    extras: list[str] = []
    for _ in range(rng.randrange(4)):
        if rng.random() < 0.5:
            # anything after it but blanks (a token never holds one)
            tail = "".join(rng.choice(_TAIL) for _ in range(rng.randrange(1, 3)))
            extras.append(rng.choice(_UNKNOWN_START) + tail)
        else:
            base = rng.choice(plain)  # (one holding an opener is in the table, by assumption)
            extras.append(
                base + "".join(rng.choice(_EXTENSION) for _ in range(rng.randrange(1, 3)))
            )
    table.update(extras)
    return table, extras


def run(cases: int, seed: int = 0) -> Outcome:
    rng = random.Random(seed)
    shipped = default_table()
    known = sorted(shipped.tokens)
    quoting = [t for t in known if any(c in t[1:] for c in "'\"`«-/")]
    plain = [t for t in known if t not in quoting]
    outcome = Outcome()
    for _ in range(cases):
        lean, extras = _lean_table(rng, shipped, known, plain)
        # tokens of either table that hold a quote or opener, and the extras, drawn often
        words = _PIECES + known + (extras + quoting) * 8 + ["'\"'", '"\'"'] * 4
        text = "".join(rng.choice(words) for _ in range(rng.randrange(1, 14)))
        lexed = tokenize(text, shipped)
        outcome.cases += 1
        if lexed.problems or lexed.unterminated or lexed.ambiguous:
            continue
        outcome.accepted += 1
        theirs, error = reference_reading(text, lean)
        ours = reading(text, lexed)
        upto = len(text) if error is None else error
        if ours[:upto] != theirs[:upto]:
            outcome.failures.append((text, extras))
    return outcome
