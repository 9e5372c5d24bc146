"""The texts of Lean, the REPL, Lake and comparator that the code matches on or sends.

One module, so that each can be held against what the pinned tools really print:
``docs/lean-evidence.md`` has a row for every name here (a test checks it), with the
recorded output or the source line that backs it. Pinned: Lean v4.20.0-rc5, the REPL
branch ``bump_to_v4.20.1``, Mathlib v4.20.0-rc5, comparator and lean4export as in
``toolchain.GOLD_PINS``. Where a text changed in later versions both forms are listed.
"""

from __future__ import annotations

import re

# --- the REPL (leanprover-community/repl, REPL/Main.lean) -------------------------------

UNKNOWN_ENVIRONMENT = "Unknown environment."
"""The REPL's answer to a request naming an environment it does not hold. Every other
``{"message": …}`` answer to a command is the exception Lean threw on it (runCommand);
``Lean error:`` prefixes only tactic-mode answers (runProofStep), which nothing here reads."""
UNCAUGHT_EXCEPTION = "uncaught exception: "
"""What Lean's runtime writes to stderr before exiting with 1 when ``main`` throws (the REPL
on a request that is no JSON; comparator on every refusal)."""

# --- Lean's messages --------------------------------------------------------------------

SORRY_WARNINGS = ("declaration uses 'sorry'", "declaration uses `sorry`")
"""The pinned Lean's form first; later Lean quotes with backticks."""
AXIOMS_LIST = re.compile(r"^'(?P<name>.+)' depends on axioms: \[(?P<axioms>.*)\]$", re.DOTALL)
"""``#print axioms`` with axioms (the list is a Format and may wrap)."""
NO_AXIOMS = re.compile(r"^'(?P<name>.+)' does not depend on any axioms$", re.DOTALL)
PARSE_ERROR = re.compile(r"^(unexpected |expected )")
"""Lean's parser errors: an unfinished last command of the proof runs into the probe."""
STATEMENT_MISMATCH = "the theorem's type is not the statement's (up to universe names)"
"""The error the verifier's own statement check throws (``verify.statement_check``)."""

# --- comparator (leanprover/comparator, Main.lean) --------------------------------------

COMPARATOR_SUCCESS = "Your solution is okay!"
COMPARATOR_REFUSALS = re.compile(
    r"Const(ant)? not found in (solution|target)"
    r"|Const does not match between challenge and target"
    r"|Challenge and solution (theorem statement do not match|constant kind don't match)"
    r"|Illegal axiom detected"
    r"|Solution constant is not a (theorem|definition)"
    r"|Quotient constant mismatch"
    r"|kernel reject"
)
"""comparator's messages that mean "this solution is refused" (Comparator/Compare.lean,
Comparator/Axioms.lean, Main.lean). Anything else it throws is a crash."""
COMPARATOR_CHILD_FAILED = re.compile(r"Child exited with|process '[^']*' exited with code")
"""A sandboxed child (lake build, lean4export) failed."""
COMPARATOR_CONFIG_KEYS = (
    "challenge_module",
    "solution_module",
    "theorem_names",
    "permitted_axioms",
)
"""The config keys comparator requires at every pinned revision."""
COMPARATOR_NANODA_KEY = "enable_nanoda"
"""Required (a Bool with no default) from comparator v4.30.0 on; absent at 9010084."""

# --- Lake ----------------------------------------------------------------------------

LAKE_ERROR_PREFIX = "error:"
"""Lake prints each error of a build (Lean's included) on a line starting so."""
