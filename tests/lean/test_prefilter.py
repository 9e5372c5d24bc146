"""The prefilter refuses text that could fool the checker, and only that."""

from __future__ import annotations

import pytest

from stepprover.lean.lexer import Kind, tokenize
from stepprover.lean.prefilter import prefilter
from stepprover.lean.source import declared_theorems, split_imports, with_sorry

STATEMENT = "theorem mathd_algebra_10 : abs ((120 : ℝ) / 100 * 30 - 130 / 100 * 20) = 10 := by\n"

CHEATS = {
    "elab": 'elab "norm_num" : tactic => do\n  Lean.Elab.admitGoal (← Lean.Elab.Tactic.getMainGoal)\n'
    + STATEMENT + "  norm_num",
    "macro": 'macro "linarith" : tactic => `(tactic| sorry)\n' + STATEMENT + "  linarith",
    "syntax": 'syntax "trust_me" : tactic\n' + STATEMENT + "  trust_me",
    "macro_rules": "macro_rules | `(tactic| rfl) => `(tactic| sorry)\n" + STATEMENT + "  rfl",
    "elab_rules": "elab_rules : tactic | `(tactic| rfl) => do pure ()\n" + STATEMENT + "  rfl",
    "#exit": STATEMENT + "  sorry\n#exit\n",
    "set_option debug.skipKernelTC": "set_option debug.skipKernelTC true\n" + STATEMENT + "  norm_num",
    "implemented_by": "@[implemented_by fake] def real : Nat := 1\n" + STATEMENT + "  norm_num",
    "extern": '@[extern "lean_fake"] opaque f : Nat → Nat\n' + STATEMENT + "  norm_num",
    "axiom": "axiom cheat : False\n" + STATEMENT + "  exact cheat.elim",
    "unsafe": "unsafe def evil : Nat := 0\n" + STATEMENT + "  norm_num",
    "#eval": '#eval IO.println "\'mathd_algebra_10\' does not depend on any axioms"\n'
    + STATEMENT + "  norm_num",
    "run_cmd": "run_cmd Lean.logInfo \"ok\"\n" + STATEMENT + "  norm_num",
    "run_tac": STATEMENT + "  run_tac Lean.Elab.admitGoal (← Lean.Elab.Tactic.getMainGoal)",
    "import": "import Mathlib.Tactic\n" + STATEMENT + "  norm_num",
}


@pytest.mark.parametrize("rule", CHEATS)
def test_each_rule_catches_a_realistic_cheat(rule: str) -> None:
    body = "open Real\n\n" + CHEATS[rule]
    findings = prefilter(body)
    assert findings, f"{rule} cheat was not caught"
    assert rule.split()[0] in {f.rule.split()[0] for f in findings}


def test_honest_proof_whose_comments_and_strings_mention_the_words_passes() -> None:
    body = (
        "/- We use no sorry, no axiom, no #eval and no macro here.\n"
        "   /- nested: elab, #exit, unsafe -/ still a comment -/\n"
        + STATEMENT
        + "  -- norm_num closes it; do not `import` anything or `run_tac`\n"
        + '  have h : "implemented_by #exit" = "implemented_by #exit" := rfl\n'
        + "  have h' : 'a' = 'a' := rfl\n"
        + "  norm_num [abs_of_nonneg]\n"
    )
    assert prefilter(body) == []


def test_words_inside_identifiers_do_not_trigger() -> None:
    body = "theorem macro_free (h_axiom : 1 = 1) (unsafe' : True) : elab_ok = elab_ok := rfl"
    assert prefilter(body) == []


def test_unterminated_comment_is_refused_because_it_would_swallow_the_checks() -> None:
    findings = prefilter(STATEMENT + "  norm_num\n/- the rest is hidden")
    assert [f.rule for f in findings] == ["unterminated comment"]


def test_finding_reports_the_line() -> None:
    (finding,) = prefilter("-- fine\n\naxiom bad : False")
    assert finding.line == 3 and "axiom" in str(finding)


def test_lexer_keeps_literals_whole_and_skips_comments() -> None:
    toks = tokenize('def s := "a -- b" -- c\n/- d -/ #check s\'').tokens
    assert [t.kind for t in toks] == [Kind.IDENT, Kind.IDENT, Kind.SYMBOL, Kind.SYMBOL,
                                      Kind.STRING, Kind.HASH_COMMAND, Kind.IDENT]
    assert toks[-1].text == "s'" and toks[-1].line == 2
    assert tokenize('r#"raw "quoted" -/"# x').tokens[0].kind is Kind.STRING
    assert [t.text for t in tokenize("Nat.succ_le_of_lt h₀ «my name».x").tokens] == [
        "Nat.succ_le_of_lt", "h₀", "«my name».x"
    ]


def test_split_imports() -> None:
    code = "-- header\nimport Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\ntheorem x : True := trivial\n"
    split = split_imports(code)
    assert split.imports == "import Mathlib\nimport Aesop"
    assert split.body == "\nset_option maxHeartbeats 400000\n\ntheorem x : True := trivial\n"
    assert split.body_line_offset == 3
    assert split_imports("theorem y : True := trivial").imports == ""


def test_declared_theorems_and_with_sorry() -> None:
    assert declared_theorems("lemma a : True := trivial\n-- theorem fake\ntheorem b : 1 = 1 := rfl") == ["a", "b"]
    assert with_sorry(STATEMENT) == STATEMENT.rstrip() + "\n  sorry"
    assert with_sorry("theorem x : True :=") == "theorem x : True := sorry"
