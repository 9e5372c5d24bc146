"""Time the verifier's reading of a proof (``verify.plan``: lexer, command scan, prefilter) on
adversarial shapes, to show it is linear in the input and bounded.

    python benchmarks/prefilter_worst_case.py            # every shape at 1 MB, bound 1 s
    python benchmarks/prefilter_worst_case.py --quick    # CI: 64 kB and 256 kB, linear growth

Each shape is a body repeated up to the size: ``in`` chains (``1 in``), Aesop phase
lists (``, unsafe a``), nested brackets, one long line, many short commands, and
the lexer's own corners (comments, strings, quotes after symbols, attributes,
namespaces). Prints seconds per shape and the verdict's first words; exits 1 when a
shape breaks the bound (full) or grows faster than linearly (``--quick``: the 4x
input may take at most 10x the time, plus 0.25 s for timer noise).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from stepprover.lean.verify import Plan, plan

HEAD = "import Mathlib\n\ntheorem t : True := by\n  "


def _repeat(unit: str, size: int, head: str = HEAD, tail: str = "trivial\n") -> str:
    return head + unit * max(1, (size - len(head) - len(tail)) // len(unit)) + tail


SHAPES: dict[str, Callable[[int], str]] = {
    "in chain": lambda n: _repeat("1 in ", n),
    "unsafe list": lambda n: _repeat(", unsafe a", n, HEAD + "aesop (add safe x", ")\n  trivial\n"),
    "nested brackets": lambda n: HEAD
    + "exact "
    + "(" * (n // 4)
    + "trivial"
    + ")" * (n // 4)
    + "\n",
    "long line": lambda n: _repeat("a + ", n, HEAD + "have : 0 = ", "0 := rfl\n  trivial\n"),
    "short commands": lambda n: "import Mathlib\n"
    + "".join(f"theorem t{i} : True := trivial\n" for i in range(n // 32)),
    "open in": lambda n: "import Mathlib\n"
    + "open Nat in\n" * (n // 12)
    + "theorem t : True := trivial\n",
    "attributes": lambda n: "import Mathlib\n"
    + "".join(f"@[simp] theorem t{i} : True := trivial\n" for i in range(n // 40)),
    "namespaces": lambda n: "import Mathlib\n"
    + "namespace A\n" * (n // 24)
    + "theorem t : True := trivial\n"
    + "end A\n" * (n // 24),
    "open names": lambda n: "import Mathlib\nopen "
    + "Nat " * (n // 4)
    + "\ntheorem t : True := trivial\n",
    "line comments": lambda n: _repeat("-- c\n  ", n),
    "block comments": lambda n: HEAD + "/- " * (n // 6) + "-/ " * (n // 6) + "\n  trivial\n",
    "strings": lambda n: _repeat('"ab" ', n, HEAD + "have := [", '"c"]\n  trivial\n'),
    "quotes after symbols": lambda n: _repeat('("")', n),
    "primes": lambda n: _repeat("h' ", n),
    "dotted name": lambda n: HEAD + "exact " + ".".join(["a"] * (n // 2)) + "\n",
    "symbols": lambda n: _repeat("+", n),
    "keywords": lambda n: _repeat("theorem ", n),
    "hash words": lambda n: _repeat("#s ", n),
}


def timed(code: str) -> tuple[float, str]:
    started = time.perf_counter()
    planned = plan(code, None)
    seconds = time.perf_counter() - started
    verdict = "planned" if isinstance(planned, Plan) else "refused: " + planned[:60]
    return seconds, verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, linear growth only")
    parser.add_argument("--size", type=int, default=1_000_000, help="bytes per shape (full)")
    parser.add_argument("--bound", type=float, default=1.0, help="seconds per shape (full)")
    args = parser.parse_args()
    failed = []
    for name, make in SHAPES.items():
        if args.quick:
            small, _ = timed(make(64_000))
            large, verdict = timed(make(256_000))
            ok = large <= 10 * small + 0.25  # quadratic would be 16x; slack for timer noise
            print(f"{name:22s} 64 kB {small:7.3f} s  256 kB {large:7.3f} s  {verdict}")
        else:
            code = make(args.size)
            large, verdict = timed(code)
            ok = large <= args.bound
            print(f"{name:22s} {len(code.encode()) / 1e6:5.2f} MB {large:7.3f} s  {verdict}")
        if not ok:
            failed.append(name)
    if failed:
        print(f"over the bound: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
