#!/usr/bin/env python3
"""A stand-in for the Lean FRO's comparator, for tests. It is NOT comparator and checks
nothing the way Lean does: it follows comparator's interface (a JSON config file as the
one argument, run inside the Lake project, progress lines on stdout, ``uncaught
exception: <reason>`` on stderr with exit code 1, ``Your solution is okay!`` with exit
code 0) and compares statements as text, so the harness can be tested without Lean.

Behaviour is chosen by the solution's text:

- ``-- standin: build-error``   the solution "does not build" (exit 1 in the build stage)
- ``-- standin: hang``          waits forever on a child process (timeout handling)
- ``-- standin: allocate``      a child grows its memory until killed (memory cap)
- ``-- standin: segfault``      dies by SIGSEGV mid-run (crash)
- ``-- standin: garbage``       fails with a message comparator never prints (crash)
- ``-- standin: fake-success``  prints the success line, then exits 1 (must not count)
- ``-- standin: kernel-reject`` the "kernel" rejects the solution
- ``sorry`` / ``native_decide`` / ``axiom X``: axioms sorryAx / Lean.ofReduceBool / X

Each build appends its module name to $STANDIN_COMPARATOR_LOG (if set).

$STANDIN_COMPARATOR_REV picks the revision whose config it reads (``Main.lean``,
``structure Config`` there): ``9010084`` (the default; the four keys) or ``1cfc5d8`` (tag
v4.30.0; also ``enable_nanoda``, a Bool without default). Names in ``theorem_names`` are
read as comparator reads them (``String.toName``: split at every dot, each part trimmed,
guillemets not understood) and found by the theorem's resolved name in the text.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path


def fail(message: str) -> None:
    print(f"uncaught exception: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def log_build(module: str) -> None:
    if log := os.environ.get("STANDIN_COMPARATOR_LOG"):
        with open(log, "a") as handle:
            handle.write(module + "\n")


REQUIRED_KEYS = {
    "9010084": ("challenge_module", "solution_module", "theorem_names", "permitted_axioms"),
    "1cfc5d8": (
        "challenge_module",
        "solution_module",
        "theorem_names",
        "permitted_axioms",
        "enable_nanoda",
    ),
}
DECLARATION = re.compile(r"\b(?:theorem|lemma)\s+((?:«[^»]*»|[^\s:({\[«])+)(.*?):=", re.DOTALL)


def components(written: str) -> tuple[str, ...]:
    """A name as Lean source writes it: split at dots outside guillemets."""
    parts, current, quoted = [], "", False
    for c in written:
        if c in "«»":
            quoted = c == "«"
        elif c == "." and not quoted:
            parts.append(current)
            current = ""
        else:
            current += c
    return (*parts, current)


def to_name(text: str) -> tuple[str, ...]:
    """Lean's ``String.toName``: split at every dot, each part trimmed."""
    return tuple(part.strip() for part in text.split("."))


def theorem(text: str, name: str) -> str | None:
    """The statement text of theorem ``name`` (up to ``:=``), whitespace-normalized."""
    for match in DECLARATION.finditer(text):
        if components(match.group(1)) == to_name(name):
            return " ".join(match.group(2).split())
    return None


def tool(env_var: str, name: str) -> str:
    path = os.environ.get(env_var) or shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        fail(f"could not execute external process '{name}'")
    return path


def main() -> None:
    if len(sys.argv) < 2:
        fail("Expected config file path as first argument.")
    config = json.loads(Path(sys.argv[1]).read_text())
    rev = os.environ.get("STANDIN_COMPARATOR_REV", "9010084")
    for key in REQUIRED_KEYS[rev]:
        if key not in config:
            fail(f"Config: property not found: {key}")
    if rev == "1cfc5d8" and not isinstance(config["enable_nanoda"], bool):
        fail("Config.enable_nanoda: Bool expected")
    tool("COMPARATOR_LANDRUN", "landrun")
    tool("COMPARATOR_LEAN4EXPORT", "lean4export")
    challenge_module, solution_module = config["challenge_module"], config["solution_module"]
    names, permitted = config["theorem_names"], set(config["permitted_axioms"])
    build = Path(".lake") / "build" / "lib" / "lean"

    print(f"Building {challenge_module}", flush=True)
    if not (build / f"{challenge_module}.olean").exists():
        build.mkdir(parents=True, exist_ok=True)
        (build / f"{challenge_module}.olean").write_text("stand-in")
        log_build(challenge_module)
    print(f"Exporting {names} from {challenge_module}", flush=True)
    challenge = Path(f"{challenge_module}.lean").read_text()

    print(f"Building {solution_module}", flush=True)
    solution = Path(f"{solution_module}.lean").read_text()
    log_build(solution_module)
    if "-- standin: build-error" in solution:
        print(f"error: ./././{solution_module}.lean:3:2: unknown tactic", flush=True)
        fail("Child exited with 1")
    if "-- standin: hang" in solution:
        subprocess.run(
            [sys.executable, "-c", "import time\nwhile True: time.sleep(60)", sys.argv[1]],
            check=False,
        )
    if "-- standin: allocate" in solution:
        subprocess.run(
            [
                sys.executable,
                "-c",
                "blocks = []\nwhile True: blocks.append(bytearray(8 << 20))",
                sys.argv[1],
            ],
            check=False,
        )
    if "-- standin: segfault" in solution:
        os.kill(os.getpid(), signal.SIGSEGV)
    (build / f"{solution_module}.olean").write_text("stand-in")
    print(f"Exporting {names} from {solution_module}", flush=True)
    if "-- standin: garbage" in solution:
        fail("Failed to parse export line 17")

    for name in names:
        wanted = theorem(challenge, name)
        if wanted is None:
            fail(f"Const not found in challenge: '{name}'")
        given = theorem(solution, name)
        if given is None:
            fail(f"Const not found in solution: '{name}'")
        if given != wanted:
            fail(f"Challenge and solution theorem statement do not match: '{name}'")
    used = set()
    if re.search(r"\bsorry\b", solution):
        used.add("sorryAx")
    if "native_decide" in solution:
        used.add("Lean.ofReduceBool")
    used |= set(re.findall(r"^axiom\s+(\S+)", solution, re.MULTILINE))
    for axiom in sorted(used - permitted):
        fail(f"Illegal axiom detected: '{axiom}'")

    print("Running Lean default kernel on solution.", flush=True)
    if "-- standin: fake-success" in solution:
        print("Your solution is okay!", flush=True)
        sys.exit(1)
    if "-- standin: kernel-reject" in solution:
        print("Lean default kernel rejects the solution", flush=True)
        fail(
            "(kernel) declaration type mismatch, 'x' has type\n  Nat\n"
            "but it is expected to have type\n  Int"
        )
    print("Lean default kernel accepts the solution", flush=True)
    print("Your solution is okay!", flush=True)


if __name__ == "__main__":
    main()
