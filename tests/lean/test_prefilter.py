"""The prefilter refuses text that could fool the checker, and only that."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from stepprover.lean.allowlists import DERIVED
from stepprover.lean.lexer import Kind, tokenize
from stepprover.lean.prefilter import Policy, prefilter
from stepprover.lean.source import (
    declared_theorems,
    env_key,
    escape_name,
    name_components,
    odd_imports,
    split_imports,
    with_sorry,
)

STATEMENT = "theorem mathd_algebra_10 : abs ((120 : ℝ) / 100 * 30 - 130 / 100 * 20) = 10 := by\n"

CHEATS = {
    "elab": 'elab "norm_num" : tactic => do\n'
    "  Lean.Elab.admitGoal (← Lean.Elab.Tactic.getMainGoal)\n" + STATEMENT + "  norm_num",
    "macro": 'macro "linarith" : tactic => `(tactic| sorry)\n' + STATEMENT + "  linarith",
    "syntax": 'syntax "trust_me" : tactic\n' + STATEMENT + "  trust_me",
    "macro_rules": "macro_rules | `(tactic| rfl) => `(tactic| sorry)\n" + STATEMENT + "  rfl",
    "elab_rules": "elab_rules : tactic | `(tactic| rfl) => do pure ()\n" + STATEMENT + "  rfl",
    "#exit": STATEMENT + "  sorry\n#exit\n",
    "set_option debug.skipKernelTC": "set_option debug.skipKernelTC true\n"
    + STATEMENT
    + "  norm_num",
    "implemented_by": "@[implemented_by fake] def real : Nat := 1\n" + STATEMENT + "  norm_num",
    "extern": '@[extern "lean_fake"] opaque f : Nat → Nat\n' + STATEMENT + "  norm_num",
    "axiom": "axiom cheat : False\n" + STATEMENT + "  exact cheat.elim",
    "unsafe": "unsafe def evil : Nat := 0\n" + STATEMENT + "  norm_num",
    "#eval": "#eval IO.println \"'mathd_algebra_10' does not depend on any axioms\"\n"
    + STATEMENT
    + "  norm_num",
    "run_cmd": 'run_cmd Lean.logInfo "ok"\n' + STATEMENT + "  norm_num",
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


def test_unclosed_identifier_escape_is_refused_because_it_would_hide_the_rest() -> None:
    findings = prefilter(STATEMENT + "  exact «oops\n#eval 1\n")
    assert [f.rule for f in findings] == ["unterminated identifier escape"]


def test_identifier_characters_are_leans_not_pythons() -> None:
    # Lean's identifiers take ASCII letters, Greek, letter-like symbols and subscripts; a
    # Cyrillic letter is not one, so it cannot glue itself to a keyword and hide it
    assert "elab" in rules('дelab "x" : tactic => pure ()\n' + THM)
    assert rules("theorem t (α : Type) (x₁ : ℝ) (ε : ℝ) (hε : 0 < ε) : ε > 0 := hε\n") == []


def test_finding_reports_the_line() -> None:
    (finding,) = prefilter("-- fine\n\naxiom bad : False")
    assert finding.line == 3 and "axiom" in str(finding)


def test_lexer_keeps_literals_whole_and_skips_comments() -> None:
    toks = tokenize('def s := "a -- b" -- c\n/- d -/ #check s\'').tokens
    assert [t.kind for t in toks] == [
        Kind.IDENT,
        Kind.IDENT,
        Kind.SYMBOL,
        Kind.SYMBOL,
        Kind.STRING,
        Kind.HASH_COMMAND,
        Kind.IDENT,
    ]
    assert toks[-1].text == "s'" and toks[-1].line == 2
    assert tokenize('r#"raw "quoted" -/"# x').tokens[0].kind is Kind.STRING
    assert [t.text for t in tokenize("Nat.succ_le_of_lt h₀ «my name».x").tokens] == [
        "Nat.succ_le_of_lt",
        "h₀",
        "«my name».x",
    ]


def test_split_imports() -> None:
    code = (
        "-- header\nimport Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\n"
        "theorem x : True := trivial\n"
    )
    split = split_imports(code)
    assert split.imports == "import Mathlib\nimport Aesop"
    assert split.body == "\nset_option maxHeartbeats 400000\n\ntheorem x : True := trivial\n"
    assert split.body_line_offset == 3
    assert split_imports("theorem y : True := trivial").imports == ""


@pytest.mark.parametrize(
    ("header", "modules", "problem"),
    [
        # Lean v4.20 src/Lean/Parser/Module.lean:
        # `import := "import " >> optional "runtime" >> ident`
        ("import Mathlib import Aesop\n", ("Mathlib", "Aesop"), None),
        ("import Mathlib -- note\n/- c -/ import Aesop\n", ("Mathlib", "Aesop"), None),
        ("import A B\n", ("A",), "one module per `import`"),
        ("import runtime X\n", ("X",), "`import runtime`"),
        ("prelude\nimport X\n", ("X",), "`prelude`"),
        ("import\ntheorem x : True := trivial\n", (), "without a module name"),
    ],
)
def test_the_header_is_read_as_leans_header_parser_reads_it(
    header: str, modules: tuple[str, ...], problem: str | None
) -> None:
    split = split_imports(header + "theorem y : True := trivial\n")
    assert split.modules == modules
    assert (split.problem is None) if problem is None else (problem in str(split.problem))


def test_a_command_on_the_last_import_line_starts_the_body() -> None:
    split = split_imports("import Mathlib theorem y : True := trivial\n")
    assert split.modules == ("Mathlib",) and split.problem is None
    assert split.body.strip() == "theorem y : True := trivial"


def test_the_environment_key_is_the_set_of_modules() -> None:
    key = env_key("import Mathlib\nimport Aesop")
    assert env_key("import Aesop\nimport Mathlib\nimport Aesop") == key
    assert env_key("import Aesop import Mathlib") == key
    assert env_key("import Mathlib") != key
    assert env_key("import Mathlib\nimport Aesop", toolchain="v4.20.0") != key
    assert key.imports == "import Aesop\nimport Mathlib"


def test_declared_theorems_and_with_sorry() -> None:
    assert declared_theorems(
        "lemma a : True := trivial\n-- theorem fake\ntheorem b : 1 = 1 := rfl"
    ) == ["a", "b"]
    assert with_sorry(STATEMENT) == STATEMENT.rstrip() + "\n  sorry"
    assert with_sorry("theorem x : True :=") == "theorem x : True := sorry"


# -- the allow-list, kind by kind ---------------------------------------------

THM = "theorem t1 (x : ℝ) (h₀ : x = 2) : x + x = 4 := by\n  linarith\n"


def rules(body: str, **policy: frozenset[str]) -> list[str]:
    return [f.rule for f in prefilter(body, policy=Policy(**policy))]


@pytest.mark.parametrize(
    "attribute",
    [
        "command_elab",
        "tactic",
        "term_elab",
        "delab",
        "app_unexpander",
        "norm_num",
        "positivity",
        "simproc",
        "init",
        "implemented_by",
        "extern",
        "csimp",
        "instance",
        "macro",
        "local instance",
        "scoped simp, command_elab",
    ],
)
def test_attributes_that_register_code_are_refused(attribute: str) -> None:
    # a realistic shape: the attribute's argument names a syntax kind; nothing else is wrong
    body = f"@[{attribute} foo] theorem helper : True := trivial\n" + THM
    name = attribute.split()[-1]
    found = rules(body)
    assert f"@[{name}]" in found and set(found) <= {f"@[{name}]", name}  # `extern` is also a word


@pytest.mark.parametrize(
    "attribute",
    [
        "simp",
        "local simp",
        "aesop safe apply",
        "aesop unsafe 50% apply",
        "norm_cast",
        "simp, aesop norm",
    ],
)
def test_attributes_that_only_tag_a_lemma_are_allowed(attribute: str) -> None:
    assert rules(f"@[{attribute}] lemma helper (x : ℕ) : x + 0 = x := by simp\n" + THM) == []


@pytest.mark.parametrize(
    "option_line",
    [
        "set_option debug.skipKernelTC true\n",
        "set_option «debug».skipKernelTC true\n",
        "set_option debug.«skipKernelTC» true in\n",
        "set_option «debug.skipKernelTC» true\n",
        "set_option Elab.async true\n",
        "set_option maxErrors 0\n",
        "set_option pp.all true\n",
        "set_option pp.maxSteps 10\n",
        "set_option format.width 10\n",
        "set_option trace.Meta.Tactic.simp true\n",
        "set_option warn.sorry false\n",
    ],
)
def test_every_option_outside_the_allow_list_is_refused(option_line: str) -> None:
    found = rules(option_line + THM)
    assert len(found) == 1 and found[0].startswith("set_option")


def test_options_are_checked_at_tactic_and_term_level_too() -> None:
    tactic = THM.replace("  linarith", "  set_option debug.skipKernelTC true in\n  linarith")
    term = "theorem t : True := set_option debug.skipKernelTC true in trivial\n"
    assert rules(tactic) == ["set_option debug.skipKernelTC"]
    assert rules(term) == ["set_option debug.skipKernelTC"]


@pytest.mark.parametrize(
    "option_line",
    [
        "set_option maxHeartbeats 400000\n",
        "set_option maxHeartbeats 0 in\n",
        "set_option «maxHeartbeats» 400000\n",
        "set_option maxRecDepth 10000 in\n",
        "set_option synthInstance.maxHeartbeats 40000\n",
    ],
)
def test_resource_limits_are_allowed(option_line: str) -> None:
    assert rules(option_line + THM) == []


def test_widening_is_a_deliberate_policy() -> None:
    body = "set_option pp.all true\n\ndef two : ℕ := 2\n\n" + THM
    assert rules(body) == ["set_option pp.all", "def"]
    assert rules(body, extra_commands=frozenset({"def"}), extra_options=frozenset({"pp.all"})) == []


@pytest.mark.parametrize(
    "option_line",
    [
        # Seed-Prover's released miniF2F proofs
        "set_option tactic.hygienic false\n",
        "set_option pp.numericTypes true\n",
        "set_option pp.funBinderTypes true\n",
        # linters only add warnings
        "set_option linter.unusedVariables false in\n",
        "set_option linter.unusedVariables false\n",
        "set_option linter.style.longLine false\n",
        "set_option «linter».unusedTactic false\n",
    ],
)
def test_options_that_change_no_check_are_allowed(option_line: str) -> None:
    assert rules(option_line + THM) == []
    assert (
        rules(
            THM.replace("  linarith", "  " + option_line.replace(" in\n", "") + " in\n  linarith")
        )
        == []
    )


def test_a_linter_family_is_not_an_option_of_its_own() -> None:
    assert rules("set_option linter true\n" + THM) == ["set_option linter"]


def test_print_axioms_of_a_name_is_allowed() -> None:
    # Seed-Prover ends its proofs so; it reads the environment and prints on the proof's lines
    assert rules(THM + "#print axioms t1\n") == []
    assert rules(THM + "#print axioms t1\n\ntheorem t2 : True := trivial\n") == []


@pytest.mark.parametrize(
    "honest",
    [
        "add_aesop_rules unsafe 90% [(by linarith), (by nlinarith), (by positivity)]\n\n" + THM,
        THM.replace("linarith", "aesop (add unsafe 50% apply mul_pos)"),
        THM.replace("linarith", "aesop (add safe apply le_refl, unsafe 20% apply mul_pos)"),
        THM.replace("linarith", "aesop (config := {}) (add unsafe apply mul_pos)"),
        THM.replace("linarith", "aesop? (add unsafe 10% (by linarith))"),
        "@[aesop unsafe 50% apply]\n" + THM,
    ],
)
def test_unsafe_as_aesops_rule_phase_is_honest(honest: str) -> None:
    assert rules(honest) == []


def test_unsafe_outside_aesop_is_refused() -> None:
    assert rules(THM.replace("linarith", "exact unsafe (by linarith)")) == ["unsafe"]
    # after the `aesop` tactic (its clauses are in brackets) `unsafe` starts a command
    assert "unsafe" in rules("theorem h : True := by aesop unsafe theorem f : 1 = 2 := f\n")
    assert rules(THM.replace("linarith", "simp (add unsafe foo)")) == ["unsafe"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("namespace X\n" + THM, "`namespace X` is not closed"),
        ("section\n" + THM, "`section` is not closed"),
        ("section Foo\n" + THM + "end Bar\n", "`end Bar` does not close `section Foo`"),
        (THM + "end\n", "`end` without an open scope"),
        ("namespace A.B\n" + THM + "end A\nend B\n", "does not close `namespace A.B`"),
        (THM.replace("linarith", "exact (by linarith"), "unclosed bracket"),
    ],
)
def test_unbalanced_scopes_are_refused_before_lean(body: str, problem: str) -> None:
    findings = prefilter(body)
    assert findings and all(f.rule == "scope" for f in findings)
    assert any(problem in f.reason for f in findings), findings


def test_open_scoped_is_not_a_scoped_command() -> None:
    assert rules("open scoped BigOperators\n" + THM) == []
    assert rules("open scoped Mathlib\n" + THM) == ["Mathlib"]
    assert rules('scoped notation "ℝ" => ℕ\n' + THM) == ["notation", "scoped"]


def test_balanced_scopes_are_fine() -> None:
    body = (
        "namespace A.B\nsection\nlemma h : True := trivial\nend\nend A.B\nnoncomputable section\n"
        + THM
        + "end\n"
    )
    assert rules(body) == []


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        ("frobnicate foo\n" + THM, "frobnicate"),  # an unknown command at column 0
        (THM + "  def evil := 1\n", "def"),  # a command keyword indented
        (THM.replace("linarith", "linarith example : True := trivial"), "example"),  # mid-line
        ("example : True := trivial\n" + THM, "example"),
        ("attribute [local instance] Classical.propDecidable\n" + THM, "attribute"),
        ("instance : Inhabited ℕ := ⟨0⟩\n" + THM, "instance"),
        ("#check Nat\n" + THM, "#check"),
        (THM + "#print t1\n", "#print"),
        (THM + "#print axioms t1 t2\n", "#print"),
        (THM + "#print axioms\n", "#print"),
        ("#foo\n" + THM, "#foo"),  # an unknown #-command at a command position
    ],
)
def test_anything_but_an_allowed_command_is_refused(body: str, rule: str) -> None:
    assert rule in rules(body)


def test_interpolated_strings_are_refused_since_their_holes_are_code() -> None:
    sneaky = THM.replace(
        "linarith", 'have := s!"{(by_elab pure (Lean.mkNatLit 0) : ℕ)}"\n  linarith'
    )
    assert rules(sneaky) == ["s!", "string with {"]
    assert rules(THM.replace("linarith", 'have : "a" = "a" := rfl\n  linarith')) == []


def test_hash_notation_inside_a_term_is_not_a_command() -> None:
    # Mathlib's `#s` (Finset.card) lexes like a #-command; only listed ones count inside terms
    assert rules("theorem c (s : Finset ℕ) : #s = s.card := rfl\n") == []


@pytest.mark.parametrize(
    "body",
    [
        "open Lean in\n" + THM,
        "open Lean Elab\n" + THM,
        "namespace Lean\nend Lean\n" + THM,
        "open Real Mathlib\n" + THM,
        "namespace Mathlib\nend Mathlib\n" + THM,
        # `_root_` and guillemets name the same namespace
        "open _root_.Mathlib\n" + THM,
        "open «_root_».«Mathlib»\n" + THM,
        "namespace _root_.Mathlib\nend _root_.Mathlib\n" + THM,
        "namespace _root_.Lean\nend _root_.Lean\n" + THM,
        "open _root_._root_.Lean in\n" + THM,
        THM.replace("linarith", "exact (Lean.Elab.admitGoal _)"),
        THM.replace("linarith", "exact _root_.Lean.ofReduceBool _ _ rfl"),
        THM.replace("linarith", "aesop (add safe tactic Lean.Elab.Tactic.evalSorry)"),
        THM.replace("linarith", 'have := IO.println "x"'),
    ],
)
def test_meta_namespaces_are_refused(body: str) -> None:
    assert prefilter(body), body


def test_lemmas_that_live_in_tactic_namespaces_are_fine() -> None:
    # from DSP+ minif2f-test-solution (Proof/amc12_2000_p6.lean): a lemma, not meta code
    assert rules(THM.replace("linarith", "simp [Aesop.BuiltinRules.not_intro]")) == []


def test_findings_carry_lines_of_the_submitted_file() -> None:
    (finding,) = prefilter("-- fine\n\naxiom bad : False", line_offset=5)
    assert finding.line == 8


def test_column_zero_continuations_are_not_commands() -> None:
    # Kimina-Prover-Preview minif2f_test_solved_filtered/src/aime_1995_p7.lean continues a
    # theorem's type at column 0; equations of a term-mode proof start with `|`
    signature = "theorem t (m : ℕ) (h : 0 < m) :\nm ≠ 0 := by\n  omega\n"
    equations = "theorem z : ∀ n : ℕ, 0 + n = n\n| 0 => rfl\n| n + 1 => by omega\n"
    by_on_its_own_line = "theorem b : (2 : ℕ) + 2 = 4 :=\nby norm_num\n"
    assert rules(signature) == [] and rules(equations) == [] and rules(by_on_its_own_line) == []
    assert rules("theorem c : True := by\ntrivial\n") == ["trivial"]  # a tactic block at column 0


def test_names_are_read_as_lean_reads_them() -> None:
    assert name_components("«debug».skipKernelTC") == ("debug", "skipKernelTC")
    assert name_components("debug.«skipKernelTC»") == ("debug", "skipKernelTC")
    assert name_components("«debug.skipKernelTC»") == ("debug.skipKernelTC",)
    assert name_components("foo'.«my name».x₁") == ("foo'", "my name", "x₁")
    assert escape_name(("foo'", "my name", "x₁")) == "foo'.«my name».x₁"


def test_declared_names_are_fully_resolved() -> None:
    body = (
        "namespace A\nprivate theorem p : True := trivial\nlemma q' : True := trivial\n"
        "theorem _root_.r : True := trivial\nsection\n"
        "@[simp] theorem s : True := trivial\nend\nend A\n"
        "theorem «t t» : True := trivial\n"
    )
    assert declared_theorems(body) == ["A.p", "A.q'", "r", "A.s", "«t t»"]


# -- red-team pass: places where this lexer and Lean's could read the text differently ----------
# Each attack hides a command-elaborator override of `#print axioms` from the prefilter while Lean
# would run it; each honest twin has the same shape and must still pass.

OVERRIDE = (
    "@[command_elab Lean.Parser.Command.printAxioms] def spoof : Lean.Elab.Command.CommandElab :="
    " fun _ => pure ()"
)
RFL = "theorem t : 1 = 1 := by\n  rfl\n"


@pytest.mark.parametrize(
    "attack",
    [
        # Lean skips the third character of `/-X` before looking for `-/`: `/-/- -/` ends there,
        # while a naive reader sees a nested `/-` and keeps going to the final `-/`.
        RFL + "/-/- -/ " + OVERRIDE + " -- -/\n",
        # `/--` is a doc comment whose body starts after `/--`: `/--/` does not close it.
        "/--/ -- -/ " + OVERRIDE + "\n" + RFL,
    ],
)
def test_comment_openers_lean_reads_differently_are_refused(attack: str) -> None:
    assert "ambiguous comment" in rules(attack)


@pytest.mark.parametrize(
    "attack",
    [
        # `/--` and `/-!` are tokens, and Lean reads the blanks and comments after a token
        # (mkTokenAndFixPos) before the doc comment's body (commentBody): the `--` line comment
        # hides the first `-/`, so the body ends on the next line and the text a reader ending
        # the comment at the first `-/` takes for a string is code (no parse error at all)
        RFL + '/-! -- -/ "\n-/ ' + OVERRIDE + ' -- "\n',
        '/-- -- -/ "\n-/ ' + OVERRIDE + ' -- "\n' + RFL,
    ],
)
def test_a_line_comment_after_a_doc_comment_opener_is_read_as_lean_reads_it(attack: str) -> None:
    assert "def" in rules(attack)


def test_a_block_comment_after_a_doc_comment_opener_is_refused() -> None:
    assert "ambiguous comment" in rules("/-- /- a -/ doc -/\n" + RFL)


def test_a_tab_after_a_doc_comment_opener_is_refused() -> None:
    # the tab is an error in the opener's trailing whitespace, so Lean recovers inside the
    # comment and reads the rest of it as commands
    assert "lexical error" in rules(RFL + "/--\t\n" + OVERRIDE + " -- -/\n")


@pytest.mark.parametrize("tail", ["open Nat in\n", "set_option maxHeartbeats 400000 in -- x\n"])
def test_a_command_level_in_that_ends_the_proof_is_refused(tail: str) -> None:
    # `open X in` / `set_option … in` applies to the next command: the verifier's check after
    # the proof (scoped notation, macros or instances of X would change how the check reads)
    assert "in" in rules(RFL + tail)
    assert rules(RFL + tail + RFL.replace("theorem t", "theorem u")) == []


def test_ordinary_nested_and_doc_comments_still_pass() -> None:
    honest = (
        "/- a /- nested -/ comment -/\n/-- A doc comment. -/\n"
        + RFL
        + "/-! module doc -/\n-- line /- not a comment start\n"
    )
    assert rules(honest) == []


def test_a_letter_after_a_number_starts_a_new_token_as_in_lean() -> None:
    # `2r"\"` is 2 then the raw string r"\" in Lean; lexing `2r` as one number would read
    # `"\" … -- "` as one ordinary string and hide what Lean runs after the raw string.
    attack = (
        'theorem t : (fun (_ : ℕ) (_ : String) => True) 2r"\\" := trivial ' + OVERRIDE + ' -- "\n'
    )
    assert "@[command_elab]" in rules(attack)
    kinds = [(t.kind, t.text) for t in tokenize('2r"\\" 0x1F 1.5e3 2.5 3').tokens]
    assert kinds == [
        (Kind.NUMBER, "2"),
        (Kind.STRING, 'r"\\"'),
        (Kind.NUMBER, "0x1F"),
        (Kind.NUMBER, "1.5e3"),
        (Kind.NUMBER, "2.5"),
        (Kind.NUMBER, "3"),
    ]
    honest = "theorem t : (0x1F : ℕ) = 31 ∧ (2.5 : ℝ) = 5 / 2 := by\n  norm_num\n"
    assert rules(honest) == []


def test_char_literals_are_read_as_lean_reads_them() -> None:
    # Lean's char literal may hold a raw newline: `'⏎'` then `"` opens a string in Lean, and
    # reading `'"'` instead would hide from the prefilter what Lean runs after that string.
    attack = (
        "theorem t : (fun (_ : Char) (_ : String) => True) '\n'\"' x \" := trivial "
        + OVERRIDE
        + ' -- "\n'
    )
    assert "@[command_elab]" in rules(attack)
    lexed = tokenize("'\n' '\"' '\\'' '\\u0041' '\\x41' 'a'")
    assert [t.kind for t in lexed.tokens] == [Kind.CHAR] * 6
    honest = "theorem t : ('a' : Char).toNat = 97 ∧ '\"' ≠ '\\'' := by\n  decide\n"
    assert rules(honest) == []


def test_command_keywords_mid_line_are_refused() -> None:
    # A command is found at column 0 or by its keyword: a keyword missing from the lists
    # would start a command Lean runs and the scan never sees.
    assert "unif_hint" in rules(
        "theorem t : 1 = 1 := rfl unif_hint (n : ℕ) where n =?= 1 ⊢ n =?= 1\n"
    )
    assert "whatsnew" in rules("theorem t : 1 = 1 := rfl whatsnew in\ntheorem u : 2 = 2 := rfl\n")
    assert rules("theorem unif_hint_free : 1 = 1 := rfl\n") == []


@pytest.mark.parametrize(
    "attack",
    [
        "theorem t : 1 = 1 := rfl #unlisted_cmd t\n",
        "theorem t : 1 = 1 := by simp; #unlisted_cmd t\n",
        "theorem t : 1 = 1 := by\n  rfl\n  #unlisted_cmd t\n",
    ],
)
def test_unlisted_hash_commands_where_a_command_may_start_are_refused(attack: str) -> None:
    assert "#unlisted_cmd" in rules(attack)


def test_finset_card_notation_where_a_term_is_required_passes() -> None:
    honest = (
        "theorem c (s : Finset ℕ) (h : #s = 2) : 2 * #s = 4 ∧ (#s) ≤ 2 := by\n"
        "  constructor <;> omega\n"
    )
    assert rules(honest) == []


def test_indented_equations_end_the_signature_so_a_later_command_is_seen() -> None:
    # while a theorem's signature is open, column-0 words are not command starts; indented
    # equations (`  | 0 => rfl`) used to keep it open for the rest of the text
    body = "theorem e : ∀ n : ℕ, n = n\n  | 0 => rfl\n  | n+1 => rfl\n"
    assert rules(body + "unknown_command x\n") == ["unknown_command"]
    assert rules(body) == []
    assert (
        rules("theorem a (x : ℝ) (h : 0 ≤ x) :\n    |x| = x := by\n  exact abs_of_nonneg h\n") == []
    )


def test_denied_words_in_guillemets_are_the_same_names() -> None:
    # `«unsafeCast»` resolves to the constant `unsafeCast`, guillemets or not
    assert rules(THM.replace("linarith", "exact «unsafeCast» ()")) == ["unsafeCast"]
    assert rules(THM.replace("linarith", "exact unsafe_free_lemma")) == []


@pytest.mark.parametrize(
    "term",
    [
        'dbg_trace "{(by run_tac Lean.Elab.Tactic.evalSorry : ℕ)}"; (0 : ℕ)',
        's! "{(by run_tac pure () : ℕ)}"',
        'throwError "{(by by_elab pure () : ℕ)}"',
    ],
)
def test_strings_whose_braces_lean_may_read_as_terms_are_refused(term: str) -> None:
    # term-level `dbg_trace`, `throwError`, and `s!` followed by a space interpolate too: the
    # `{…}` hole is elaborated, with whatever `run_tac` it holds, while the lexer sees a string
    found = rules(THM.replace("linarith", f"have := {term}\n  linarith"))
    assert "string with {" in found or "s!" in found, found


def test_plain_and_raw_strings_without_holes_pass() -> None:
    honest = THM.replace(
        "linarith", 'have : "a" ++ "b" = "ab" := rfl\n  have : r"{x}" = r"{x}" := rfl\n  linarith'
    )
    assert rules(honest) == []


# -- lists derived from Lean's and Mathlib's sources (scripts/derive_lean_lists.py) ---------


def test_derived_lists_name_their_source_files_and_revisions() -> None:
    assert DERIVED.sources and all(s["repo"] and s["revision"] for s in DERIVED.sources)
    for word in ("with_weak_namespace", "deprecate", "unsuppress_compilation"):
        assert DERIVED.commands[word].startswith("leanprover-community/mathlib4:Mathlib/")
    assert DERIVED.commands["show_panel_widgets"].startswith("leanprover/lean4:src/")
    assert DERIVED.code_evaluating["run_conv"][1] == "expands to run_tac"
    for word in ("run_tac", "by_elab", "eval%"):
        assert DERIVED.code_evaluating[word][1] == "its elaborator evaluates"


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (THM.replace("linarith", "conv => run_conv pure ()"), "run_conv"),
        (THM.replace("linarith", "run_tac pure ()"), "run_tac"),
        (THM.replace("linarith", "exact (by_elab pure default)"), "by_elab"),
        ("theorem t : (2 : ℕ) = eval% 2 := rfl\n", "eval%"),
    ],
)
def test_code_evaluating_syntax_is_refused_anywhere(body: str, rule: str) -> None:
    assert rule in rules(body)


def test_eval_without_a_touching_percent_is_a_plain_word() -> None:
    assert rules(THM.replace("linarith", "simp [eval]\n  linarith")) == []


@pytest.mark.parametrize(
    "command",
    [
        "with_weak_namespace Foo theorem x : True := trivial",
        "deprecate to y theorem x : True := trivial",
        "unsuppress_compilation in theorem x : True := trivial",
        "show_panel_widgets [foo]",
    ],
)
def test_derived_commands_are_found_mid_line(command: str) -> None:
    # a command keyword starts a new command wherever it appears, even after a proof term
    word = command.split()[0]
    assert word in rules("theorem t : True := trivial " + command + "\n")


def _derive_script() -> Any:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "derive_lean_lists.py"
    spec = importlib.util.spec_from_file_location("derive_lean_lists", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module by name
    spec.loader.exec_module(module)
    return module


def test_the_derivation_reads_commands_and_code_evaluating_syntax(tmp_path: Path) -> None:
    # written for this test, in the declaration forms of Lean's and Mathlib's sources
    lean = """
/-- a doc comment: `syntax "not_a_command" : command` -/
syntax (name := fooCmd) "foo_cmd " term : command

elab tk:"#peek " t:term " => " e:term : command => do
  logInfo m!"{t}"

elab "my_tac " e:doSeq : tactic => do
  ← unsafe evalTerm (TacticM Unit) (mkConst ``Unit) e

macro "wrap_tac" e:doSeq : conv => `(conv| tactic' => my_tac $e)

syntax (name := barTerm) "bar% " term : term

@[term_elab barTerm]
unsafe def elabBar : TermElab
| `(term| bar% $t) => fun _ => do
  Meta.evalExpr Expr q(Expr) t
| _ => fun _ => throwUnsupportedSyntax

syntax (name := quiet) "quiet_tac" : tactic
"""
    folder = tmp_path / "repo"
    (folder / "Lib").mkdir(parents=True)
    (folder / "Lib" / "Meta.lean").write_text(lean, encoding="utf-8")
    script = _derive_script()
    data = script.derive([script.Excerpt("o/r", "o/r", "abc", folder, "Lib/Meta.lean")])
    assert set(data["commands"]) == {"foo_cmd", "#peek"}
    assert data["commands"]["foo_cmd"] == {"file": "o/r:Lib/Meta.lean"}
    evaluating = {k: v["why"] for k, v in data["code_evaluating"].items()}
    assert evaluating == {
        "my_tac": "its elaborator evaluates",
        "wrap_tac": "expands to my_tac",
        "bar%": "its elaborator evaluates",
    }
    assert data["sources"] == [{"repo": "o/r", "revision": "abc", "path": "Lib/Meta.lean"}]


def test_an_import_block_that_is_not_imports_is_odd() -> None:
    assert odd_imports("import Mathlib\nimport Aesop") == []
    assert odd_imports("garbage here") == ["garbage here"]
    assert odd_imports("import Mathlib Aesop") == ["Aesop"]
    assert odd_imports("import «..».tmp.x") == ["«..».tmp.x"]


# -- reading the text as Lean's tokenizer does ---------------------------------------------------

SPOOF = (
    "@[command_elab Lean.Parser.Command.printAxioms] def spoof : "
    "Lean.Elab.Command.CommandElab := fun _ => pure ()"
)


def test_text_after_times_prime_quote_is_code_as_lean_reads_it() -> None:
    # Lean: `×'` (a core token), the string `"' Nat) "`, then code: the spoof is seen and refused
    body = (
        "theorem helper : (fun (_ : Type) (_ : String) => True) (Nat ×'\"' Nat) \") := trivial\n"
        + SPOOF
        + '\n-- "\n'
        + STATEMENT
        + "  norm_num"
    )
    findings = prefilter(body, imports="import Mathlib")
    assert "@[command_elab]" in {f.rule for f in findings}
    assert {f.line for f in findings if f.rule == "@[command_elab]"} == {2}


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ('  have := (⊹"x")', "ambiguous opener"),
        ("  have := (1 ⊹-- c\n  )", "ambiguous opener"),
        ("  exact ∑' n, f n", "ambiguous opener"),  # Mathlib's, and Mathlib is not imported
        ("  exact théorème", "uncertain identifier character"),
        ("  exact 2e", "lexical error"),
    ],
)
def test_undecidable_or_broken_text_is_refused_with_rule_and_line(line: str, rule: str) -> None:
    findings = prefilter(STATEMENT + "  norm_num\n" + line + "\n", line_offset=10)
    assert (rule, 13) in {(f.rule, f.line) for f in findings}


def test_mathlib_tokens_with_a_quote_are_read_when_mathlib_is_imported() -> None:
    body = STATEMENT + "  have : f ⁻¹' s = f ⁻¹' s := rfl\n  norm_num\n"
    assert prefilter(body, imports="import Mathlib\nimport Aesop") == []
    assert {f.rule for f in prefilter(body)} == {"ambiguous opener"}


def test_bounds_are_refusals_of_their_own() -> None:
    many = STATEMENT + "  " + "skip; " * 30_000 + "norm_num\n"
    assert [f.rule for f in prefilter(many)] == ["too many tokens"]
    long_name = STATEMENT + "  exact " + ".".join(["h"] * 700) + "\n"
    assert [f.rule for f in prefilter(long_name)] == ["overlong identifier"]
    deadline_passed = prefilter(STATEMENT + "  skip\n" * 3000, deadline=0.0)
    assert [f.rule for f in deadline_passed] == ["time limit"]


@pytest.mark.parametrize(
    "body",
    [
        "theorem t : True := by\n  " + "1 in " * 4000 + "trivial\n",
        "theorem t : True := by\n  aesop (add safe x" + ", unsafe a" * 4000 + ")\n",
        "theorem t : True := by\n  exact " + "(" * 3000 + "trivial" + ")" * 3000 + "\n",
        "".join(f"@[simp] theorem t{i} : True := trivial\n" for i in range(1500)),
        "open " + "open " * 3000 + "Nat\ntheorem t : True := trivial\n",
    ],
)
def test_shapes_that_were_quadratic_are_still_accepted(body: str) -> None:
    # each used to walk back per token (to the command start, the enclosing bracket, the
    # attribute) or forward per `open`; read in one pass now, with the same verdict: accepted
    assert prefilter(body) == []
    # and a refused word after it is still found, at its line
    refused = body + "theorem u : True := by\n  run_tac pure ()\n"
    assert ("run_tac", body.count("\n") + 2) in {(f.rule, f.line) for f in prefilter(refused)}
