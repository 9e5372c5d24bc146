"""Differential check of the prefilter's lexer against a second, literal port of Lean's
tokenizer (tests/lean/reference_lexer.py) on generated texts (tests/lean/differential.py).

    python benchmarks/lexer_differential.py [--cases 100000] [--seed 0]
    python benchmarks/lexer_differential.py --quick    # CI: 2,000 cases

Prints the cases, how many the prefilter's lexer accepted (read without a problem),
and the accepted texts the two read differently (must be none; exits 1 otherwise).
"""

from __future__ import annotations

import argparse
import sys
import time

import _repo  # noqa: F401  (puts this checkout on sys.path)

from tests.lean.differential import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2,000 cases (CI)")
    args = parser.parse_args()
    started = time.perf_counter()
    outcome = run(2_000 if args.quick else args.cases, args.seed)
    print(
        f"{outcome.cases} cases, {outcome.accepted} accepted by the prefilter's lexer, "
        f"{len(outcome.failures)} accepted and read differently "
        f"({time.perf_counter() - started:.1f} s)"
    )
    for text, extras in outcome.failures[:20]:
        print(f"  {text!r}  (Lean's table also had {extras})")
    sys.exit(1 if outcome.failures else 0)


if __name__ == "__main__":
    main()
