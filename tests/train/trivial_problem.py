"""One trivial problem, the TIR turns that prove it, and the stand-in REPL script
(what "Lean" answers: the statement check, then the final proof's type and axioms)."""

from __future__ import annotations

from stepprover.data.problems import Problem

PROBLEM = Problem(
    name="t", header="import Mathlib\n\n", formal_statement="theorem t : True := by\n"
)
SKETCH = "Check.\n<sketch>theorem t : True := by trivial</sketch>"
ANSWER = "\n</think>\n```lean4\ntheorem t : True := by trivial -- final\n```"
TYPE = {"severity": "info", "pos": {"line": -3, "column": 0}, "endPos": None, "data": "@t : True"}
AXIOMS = {**TYPE, "pos": {"line": -2, "column": 0}, "data": "'t' does not depend on any axioms"}
SCRIPT = [
    ["sorry\n\nset_option pp.all", {"messages": [{**TYPE, "pos": {"line": -2, "column": 0}}]}],
    ["-- final", {"messages": [TYPE, AXIOMS]}],
    ["*", {}],
]
