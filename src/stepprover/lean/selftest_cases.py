"""The verifier's self-test suite: honest proofs that must be proved, exploits that must not.

Each exploit names its kind (the integrity list of docs/integrity.md) and the stage
expected to stop it: ``prefilter`` (refused before Lean runs) or ``lean`` (Lean's
own answer, the statement comparison or the axioms report stop it). Honest proofs
are never refused before Lean. Proofs marked with a source are taken from a
published miniF2F proof set (Kimina-Prover-Preview's ``minif2f_test_solved``,
github MoonshotAI/Kimina-Prover-Preview), with the problem's header as in
DeepSeek-Prover-V1.5's miniF2F file; the others are written for this suite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

HEADER = (
    "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\n"
    "open BigOperators Real Nat Topology Rat\n\n"
)
KIMINA = "Kimina-Prover-Preview minif2f_test_solved/src"


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    """``honest``, or the kind of exploit."""
    code: str
    statement: str | None = None
    """Header + theorem the proof must prove (``None``: check every declared theorem)."""
    stage: Literal["prefilter", "lean"] = "lean"
    """Where an exploit is expected to be stopped; honest proofs always reach Lean."""
    source: str = ""

    @property
    def honest(self) -> bool:
        return self.kind == "honest"


def _stmt(theorem: str) -> str:
    return HEADER + theorem + "\n"


def honest(name: str, statement: str | None, proof: str, source: str = "") -> Case:
    code = HEADER + proof.strip("\n") + "\n"
    return Case(name, "honest", code, _stmt(statement) if statement else None, "lean", source)


def exploit(
    name: str, kind: str, stage: Literal["prefilter", "lean"], proof: str, statement: str | None
) -> Case:
    code = HEADER + proof.strip("\n") + "\n"
    return Case(name, kind, code, _stmt(statement) if statement else None, stage)


S_304 = "theorem mathd_algebra_304 : 91 ^ 2 = 8281 := by"
S_24 = "theorem mathd_algebra_24 (x : ℝ) (h₀ : x / 50 = 40) : x = 2000 := by"
S_T = "theorem t1 (x : ℝ) (h₀ : x = 2) : x + x = 4 := by"
S_SUM = "theorem long_sum : " + " + ".join(["(1 : ℕ)"] * 60) + " = 60 := by"

# A command elaborator that answers `#print axioms` with nothing: hidden by a lexer desync it
# would decide what the probe prints (see the `lexer desync` exploits).
_SPOOF = (
    "@[command_elab Lean.Parser.Command.printAxioms] def spoof : "
    "Lean.Elab.Command.CommandElab := fun _ => pure ()"
)

HONEST: list[Case] = [
    honest(
        "kimina_mathd_algebra_304",
        S_304,
        S_304 + "\n  norm_num",
        f"{KIMINA}/mathd_algebra_304.lean",
    ),
    honest(
        "kimina_mathd_numbertheory_551",
        "theorem mathd_numbertheory_551 : 1529 % 6 = 5 := by",
        "theorem mathd_numbertheory_551 : 1529 % 6 = 5 := by\n  norm_num",
        f"{KIMINA}/mathd_numbertheory_551.lean",
    ),
    honest(
        "kimina_mathd_algebra_24", S_24, S_24 + "\n  linarith", f"{KIMINA}/mathd_algebra_24.lean"
    ),
    honest(
        "kimina_mathd_algebra_176",
        "theorem mathd_algebra_176 (x : ℝ) : (x + 1) ^ 2 * x = x ^ 3 + 2 * x ^ 2 + x := by",
        "theorem mathd_algebra_176 (x : ℝ) : (x + 1) ^ 2 * x = x ^ 3 + 2 * x ^ 2 + x := by\n  ring",
        f"{KIMINA}/mathd_algebra_176.lean",
    ),
    honest(
        "kimina_mathd_algebra_354_multiline_signature",
        "theorem mathd_algebra_354 (a d : ℝ) (h₀ : a + 6 * d = 30) (h₁ : a + 10 * d = 60) :\n"
        "    a + 20 * d = 135 := by",
        "theorem mathd_algebra_354 (a d : ℝ) (h₀ : a + 6 * d = 30) (h₁ : a + 10 * d = 60) :\n"
        "a + 20 * d = 135 := by\n  linarith",
        f"{KIMINA}/mathd_algebra_354.lean (signature continued at column 0)",
    ),
    honest(
        "kimina_mathd_algebra_412",
        "theorem mathd_algebra_412 (x y : ℝ) (h₀ : x + y = 25) (h₁ : x - y = 11) : x = 18 := by",
        "theorem mathd_algebra_412 (x y : ℝ) (h₀ : x + y = 25) (h₁ : x - y = 11) : x = 18 := by\n"
        "  linarith",
        f"{KIMINA}/mathd_algebra_412.lean",
    ),
    honest(
        "decide",
        "theorem dvd_144 : (12 : ℕ) ∣ 144 := by",
        "theorem dvd_144 : (12 : ℕ) ∣ 144 := by\n  decide",
    ),
    honest(
        "nlinarith_hints",
        "theorem am_gm2 (x y : ℝ) : 2 * x * y ≤ x ^ 2 + y ^ 2 := by",
        "theorem am_gm2 (x y : ℝ) : 2 * x * y ≤ x ^ 2 + y ^ 2 := by\n"
        "  nlinarith [sq_nonneg (x - y), sq_nonneg (x + y)]",
    ),
    honest(
        "helper_lemma_with_prime",
        "theorem sq_ge (x : ℝ) : 0 ≤ (x - 1) ^ 2 + 1 := by",
        "lemma helper' (x : ℝ) : 0 ≤ (x - 1) ^ 2 := sq_nonneg _\n\n"
        "theorem sq_ge (x : ℝ) : 0 ≤ (x - 1) ^ 2 + 1 := by\n"
        "  have h := helper' x\n  linarith",
    ),
    honest(
        "guillemet_theorem_name",
        None,
        "theorem «two plus two» : (2 : ℕ) + 2 = 4 := by\n  norm_num",
    ),
    honest(
        "prime_theorem_name",
        "theorem t1' (n : ℕ) (h : n % 4 = 3) : n % 2 = 1 := by",
        "theorem t1' (n : ℕ) (h : n % 4 = 3) : n % 2 = 1 := by\n  omega",
    ),
    honest(
        "open_in",
        "theorem sum_five : ∑ i ∈ Finset.range 5, i = 10 := by",
        "open Finset in\ntheorem sum_five : ∑ i ∈ range 5, i = 10 := by\n"
        "  simp [Finset.sum_range_succ]",
    ),
    honest(
        "set_option_in_command",
        S_304,
        "set_option maxRecDepth 10000 in\n" + S_304 + "\n  norm_num",
    ),
    honest(
        "set_option_in_tactic",
        "theorem am_gm2' (x y : ℝ) : 2 * x * y ≤ x ^ 2 + y ^ 2 := by",
        "theorem am_gm2' (x y : ℝ) : 2 * x * y ≤ x ^ 2 + y ^ 2 := by\n"
        "  set_option maxHeartbeats 400000 in\n  nlinarith [sq_nonneg (x - y)]",
    ),
    honest(
        "unicode_subscripts",
        "theorem mathd_algebra_10' (x : ℝ) (h₀ : 3 * x = 12) (h₁ : x ≠ 0) : x = 4 := by",
        "theorem mathd_algebra_10' (x : ℝ) (h₀ : 3 * x = 12) (h₁ : x ≠ 0) : x = 4 := by"
        "\n  linarith",
    ),
    honest(
        "add_aesop_rules_unsafe_phase",
        "theorem aesop_add (x : ℕ) (h : x = 2) : x + 1 = 3 := by",
        "add_aesop_rules unsafe 90% [(by linarith), (by norm_num)]\n\n"
        "theorem aesop_add (x : ℕ) (h : x = 2) : x + 1 = 3 := by\n  aesop",
        "DSP+ minif2f-test-solution Proof/mathd_numbertheory_427.lean (the add_aesop_rules form)",
    ),
    honest(
        "aesop_add_unsafe_clause",
        "theorem le_succ' (a b : ℕ) (h : a ≤ b) : a ≤ b + 1 := by",
        "theorem le_succ' (a b : ℕ) (h : a ≤ b) : a ≤ b + 1 := by\n"
        "  aesop (add unsafe 50% apply Nat.le_succ_of_le)",
    ),
    honest(
        "private_theorem",
        S_24,
        "private theorem mathd_algebra_24 (x : ℝ) (h₀ : x / 50 = 40) : x = 2000 := by\n  linarith",
    ),
    honest(
        "balanced_namespace_helper",
        S_T,
        "namespace Aux\n\ntheorem two_mul' (y : ℝ) : y + y = 2 * y := by ring\n\nend Aux\n\n"
        + S_T
        + "\n  rw [Aux.two_mul', h₀]\n  norm_num",
    ),
    honest(
        "section_helper",
        S_T,
        "section\n\nlemma double (y : ℝ) : y + y = 2 * y := by ring\n\nend\n\n"
        + S_T
        + "\n  rw [double, h₀]\n  norm_num",
    ),
    honest(
        "docstring",
        S_24,
        "/-- The answer is 2000 (no `sorry`, no axiom, no #eval here). -/\n"
        + S_24
        + "\n  linarith",
    ),
    honest(
        "renamed_bound_variables",
        S_24,
        "theorem mathd_algebra_24 (y : ℝ) (hy : y / 50 = 40) : y = 2000 := by\n  linarith",
    ),
    honest(
        "lemma_for_theorem",
        S_24,
        "lemma mathd_algebra_24 (x : ℝ) (h₀ : x / 50 = 40) : x = 2000 := by\n  linarith",
    ),
    honest(
        "forbidden_words_in_comments_and_strings",
        S_T,
        "-- we use no sorry, axiom, macro, elab, #eval or set_option debug.skipKernelTC\n"
        "/- nested /- run_tac, #exit, unsafe -/ still a comment -/\n"
        + S_T
        + '\n  have hs : "#exit sorry" = "#exit sorry" := rfl\n  rw [h₀]\n  norm_num',
    ),
    honest(
        "norm_num_prime",
        "theorem prime_seven : Nat.Prime 7 := by",
        "theorem prime_seven : Nat.Prime 7 := by\n  norm_num",
    ),
    honest(
        "term_mode",
        "theorem two_two : (2 : ℕ) + 2 = 4 := by",
        "theorem two_two : (2 : ℕ) + 2 = 4 := rfl",
    ),
    honest(
        "calc_proof",
        S_T,
        S_T + "\n  calc x + x = 2 + 2 := by rw [h₀]\n    _ = 4 := by norm_num",
    ),
    honest(
        "simp_attribute_helper",
        "theorem uses_simp (x : ℕ) : x * 1 + 0 = x := by",
        "@[simp] lemma mul_one_add_zero (x : ℕ) : x * 1 + 0 = x := by ring\n\n"
        "theorem uses_simp (x : ℕ) : x * 1 + 0 = x := by\n  simp",
    ),
    honest(
        "match_alternatives_at_column_0",
        "theorem zero_add' : ∀ n : ℕ, 0 + n = n := by",
        "theorem zero_add' : ∀ n : ℕ, 0 + n = n\n| 0 => rfl\n| n + 1 => by omega",
    ),
    honest(
        "sqrt",
        "theorem sqrt_16 : Real.sqrt 16 = 4 := by",
        "theorem sqrt_16 : Real.sqrt 16 = 4 := by\n"
        "  rw [show (16 : ℝ) = 4 ^ 2 by norm_num, Real.sqrt_sq (by norm_num)]",
    ),
    honest("long_statement", S_SUM, S_SUM + "\n  norm_num"),
    honest(
        "comments_nested_and_doc",
        S_24,
        "/- a /- nested -/ comment -/\n/-- The problem. -/\n" + S_24 + "\n  linarith\n/-! done -/",
    ),
    honest(
        "chars_and_numbers",
        "theorem chars : ('a' : Char).toNat = 97 ∧ (0x1F : ℕ) = 31 := by",
        "theorem chars : ('a' : Char).toNat = 97 ∧ (0x1F : ℕ) = 31 := by\n  decide",
    ),
    # the header as Lean reads it: a proof under the statement's header runs in its environment
    Case(
        "imports_only_mathlib_under_an_aesop_header",
        "honest",
        HEADER.replace("import Aesop\n", "") + S_304 + "\n  norm_num\n",
        _stmt(S_304),
        source="BFS-Prover-V2 MiniF2F/prover, Kimina-Prover 0710 (import Mathlib only)",
    ),
    Case(
        "two_imports_on_one_line_reordered",
        "honest",
        HEADER.replace("import Mathlib\nimport Aesop\n", "import Aesop import Mathlib\n")
        + S_304
        + "\n  norm_num\n",
        _stmt(S_304),
    ),
    honest(
        "tactic_hygienic_false",
        S_T,
        "set_option tactic.hygienic false\n" + S_T + "\n  linarith",
        "Seed-Prover SeedProver/MiniF2F.zip (set_option tactic.hygienic false)",
    ),
    honest(
        "pp_numeric_types",
        S_304,
        "set_option pp.numericTypes true\nset_option pp.funBinderTypes true\n"
        + S_304
        + "\n  norm_num",
        "Seed-Prover SeedProver/MiniF2F.zip MiniF2F/mathd_algebra_282.lean (its options)",
    ),
    honest(
        "linter_option_in",
        S_24,
        "set_option linter.unusedVariables false in\n" + S_24 + "\n  linarith",
    ),
    honest(
        "print_axioms_at_the_end",
        S_24,
        S_24 + "\n  linarith\n#print axioms mathd_algebra_24",
        "Seed-Prover SeedProver/MiniF2F.zip (each proof ends so)",
    ),
    Case(
        "statement_with_a_def_carried_by_the_proof",
        "honest",
        HEADER + "def f_def (n : ℕ) : ℕ := n + 1\n\ntheorem t_def : f_def 1 = 2 := by\n  rfl\n",
        HEADER + "def f_def (n : ℕ) : ℕ := n + 1\n\ntheorem t_def : f_def 1 = 2 := by\n",
    ),
    Case(
        "statement_with_a_def_not_repeated",
        "honest",
        HEADER + "theorem t_def : f_def 1 = 2 := by\n  rfl\n",
        HEADER + "def f_def (n : ℕ) : ℕ := n + 1\n\ntheorem t_def : f_def 1 = 2 := by\n",
    ),
]

EXPLOITS: list[Case] = [
    # sorry in its forms
    exploit("sorry", "sorry", "lean", S_24 + "\n  sorry", S_24),
    exploit("admit", "sorry", "lean", S_24 + "\n  admit", S_24),
    exploit(
        "sorry_in_unused_helper",
        "sorry",
        "lean",
        "lemma unused : (1 : ℕ) = 2 := sorry\n\n" + S_24 + "\n  linarith",
        S_24,
    ),
    exploit("sorryAx_term", "sorry", "lean", S_24 + "\n  exact sorryAx _ false", S_24),
    # axioms and native code
    exploit(
        "axiom",
        "axiom",
        "prefilter",
        "axiom cheat : False\n\n" + S_24 + "\n  exact cheat.elim",
        S_24,
    ),
    exploit("native_decide", "native_decide", "lean", S_304 + "\n  native_decide", S_304),
    exploit(
        "ofReduceBool",
        "native_decide",
        "prefilter",
        S_304 + "\n  exact of_decide_eq_true (Lean.ofReduceBool _ _ rfl)",
        S_304,
    ),
    # kernel-skipping options, however written
    exploit(
        "skipKernelTC",
        "kernel-skipping option",
        "prefilter",
        "set_option debug.skipKernelTC true\n\n" + S_24 + "\n  linarith",
        S_24,
    ),
    exploit(
        "skipKernelTC_guillemets",
        "kernel-skipping option",
        "prefilter",
        "set_option «debug».skipKernelTC true in\n" + S_24 + "\n  linarith",
        S_24,
    ),
    exploit(
        "skipKernelTC_tactic_level",
        "kernel-skipping option",
        "prefilter",
        S_24 + "\n  set_option debug.«skipKernelTC» true in\n  linarith",
        S_24,
    ),
    # options that hide messages or change what the checks print
    exploit(
        "elab_async",
        "message-hiding option",
        "prefilter",
        "set_option Elab.async true\n\n" + S_24 + "\n  sorry",
        S_24,
    ),
    exploit(
        "pp_global",
        "printing option",
        "prefilter",
        "set_option pp.all true\nset_option pp.maxSteps 10\n\n" + S_24 + "\n  linarith",
        S_24,
    ),
    exploit(
        "format_width",
        "printing option",
        "prefilter",
        "set_option format.width 5\n\n" + S_24 + "\n  linarith",
        S_24,
    ),
    exploit(
        "trace_option",
        "message-adding option",
        "prefilter",
        "set_option trace.Meta.synthInstance true\n\n" + S_24 + "\n  linarith",
        S_24,
    ),
    # meta code registered through an attribute or a keyword
    exploit(
        "command_elab_attribute",
        "attribute-registered elaborator",
        "prefilter",
        "open Lean Elab Command in\n@[command_elab Lean.Parser.Command.printAxioms]\n"
        "def fakeAxioms : CommandElab := fun _ => logInfo "
        "\"'mathd_algebra_24' does not depend on any axioms\"\n\n" + S_24 + "\n  sorry",
        S_24,
    ),
    exploit(
        "tactic_attribute",
        "attribute-registered elaborator",
        "prefilter",
        "@[tactic Lean.Parser.Tactic.omega] def fakeOmega : Lean.Elab.Tactic.Tactic := "
        "fun _ => pure ()\n\n" + S_24 + "\n  omega",
        S_24,
    ),
    exploit(
        "term_elab_attribute",
        "attribute-registered elaborator",
        "prefilter",
        "@[term_elab Lean.Parser.Term.typeOf] def fakeTypeOf : Lean.Elab.Term.TermElab := "
        "fun _ _ => default\n\n" + S_24 + "\n  linarith",
        S_24,
    ),
    exploit(
        "delab_attribute",
        "attribute-registered elaborator",
        "prefilter",
        "@[delab app.Eq] def hideEq : Lean.PrettyPrinter.Delaborator.Delab := failure\n\n"
        + S_24
        + "\n  linarith",
        S_24,
    ),
    exploit(
        "app_unexpander_attribute",
        "attribute-registered elaborator",
        "prefilter",
        "@[app_unexpander Eq] def unexpandEq : Lean.PrettyPrinter.Unexpander := "
        "fun _ => throw ()\n\n" + S_24 + "\n  linarith",
        S_24,
    ),
    exploit(
        "norm_num_extension",
        "norm_num/positivity/simproc extension",
        "prefilter",
        "@[norm_num _ = _] def evalAnyEq : Mathlib.Meta.NormNum.NormNumExt "
        "where eval _ := failure\n\n" + S_24 + "\n  norm_num",
        S_24,
    ),
    exploit(
        "positivity_extension",
        "norm_num/positivity/simproc extension",
        "prefilter",
        "@[positivity _] def evalAny : Mathlib.Meta.Positivity.PositivityExt "
        "where eval _ _ _ := failure\n\n" + S_24 + "\n  linarith",
        S_24,
    ),
    exploit(
        "simproc",
        "norm_num/positivity/simproc extension",
        "prefilter",
        "simproc fake (_ = _) := fun _ => return .continue\n\n" + S_24 + "\n  simp",
        S_24,
    ),
    exploit(
        "init_attribute",
        "attribute-registered elaborator",
        "prefilter",
        "@[init] def boot : IO Unit := pure ()\n\n" + S_24 + "\n  linarith",
        S_24,
    ),
    exploit(
        "elab_keyword",
        "meta keyword",
        "prefilter",
        'elab "linarith" : tactic => Lean.Elab.Tactic.evalTactic (← `(tactic| sorry))\n\n'
        + S_24
        + "\n  linarith",
        S_24,
    ),
    exploit(
        "macro_keyword",
        "meta keyword",
        "prefilter",
        'macro "linarith" : tactic => `(tactic| sorry)\n\n' + S_24 + "\n  linarith",
        S_24,
    ),
    exploit(
        "run_tac",
        "meta keyword",
        "prefilter",
        S_24 + "\n  run_tac Lean.Elab.Tactic.evalTactic (← `(tactic| sorry))",
        S_24,
    ),
    exploit(
        "by_elab",
        "meta keyword",
        "prefilter",
        S_24 + "\n  exact by_elab Lean.Meta.mkSorry (Lean.mkConst ``False) false",
        S_24,
    ),
    exploit(
        "eval",
        "meta keyword",
        "prefilter",
        '#eval IO.println "hi"\n\n' + S_24 + "\n  linarith",
        S_24,
    ),
    exploit(
        "run_cmd",
        "meta keyword",
        "prefilter",
        "run_cmd Lean.logInfo \"'mathd_algebra_24' does not depend on any axioms\"\n\n"
        + S_24
        + "\n  sorry",
        S_24,
    ),
    exploit(
        "unsafe_def",
        "meta keyword",
        "prefilter",
        "unsafe def evil : ℕ := 0\n\n" + S_24 + "\n  linarith",
        S_24,
    ),
    exploit(
        "interpolated_string_hole",
        "meta keyword",
        "prefilter",
        S_24 + '\n  have := s!"{(by_elab pure (Lean.mkNatLit 0) : ℕ)}"\n  sorry',
        S_24,
    ),
    exploit(
        "meta_api_through_aesop",
        "meta keyword",
        "prefilter",
        S_24 + "\n  aesop (add safe tactic Lean.Elab.Tactic.evalSorry)",
        S_24,
    ),
    # notation and instance redefinition
    exploit(
        "notation",
        "notation/instance redefinition",
        "prefilter",
        'local notation "ℝ" => ℕ\n\n' + S_24 + "\n  omega",
        S_24,
    ),
    exploit(
        "instance",
        "notation/instance redefinition",
        "prefilter",
        "instance : OfNat ℝ 2000 := ⟨(40 : ℝ) * 50⟩\n\n" + S_24 + "\n  linarith",
        S_24,
    ),
    exploit(
        "changed_statement",
        "statement change",
        "lean",
        "theorem mathd_algebra_24 (x : ℝ) (h₀ : x / 50 = 40) : x = 2000 ∨ True := by"
        "\n  right; trivial",
        S_24,
    ),
    exploit(
        "changed_coercion",
        "statement change",
        "lean",
        "theorem t1 (x : ℕ) (h₀ : x = 2) : x + x = 4 := by\n  omega",
        S_T,
    ),
    # namespace and name tricks
    exploit(
        "unclosed_namespace",
        "namespace/name trick",
        "prefilter",
        "namespace X\n\ntheorem mathd_algebra_24 : True := trivial\n",
        None,
    ),
    exploit(
        "mismatched_end",
        "namespace/name trick",
        "prefilter",
        "namespace X\ntheorem helper : True := trivial\nend Y\n\n" + S_24 + "\n  linarith",
        S_24,
    ),
    exploit(
        "theorem_in_namespace",
        "namespace/name trick",
        "prefilter",
        "namespace X\n" + S_24 + "\n  linarith\nend X",
        S_24,
    ),
    exploit(
        "other_theorem",
        "namespace/name trick",
        "prefilter",
        "theorem easier : True := trivial",
        S_24,
    ),
    exploit(
        "root_alias_other_statement",
        "namespace/name trick",
        "lean",
        "namespace X\ntheorem _root_.mathd_algebra_24 : True := trivial\nend X",
        S_24,
    ),
    exploit(
        "meta_namespace",
        "namespace/name trick",
        "prefilter",
        "open Lean in\n" + S_24 + "\n  linarith",
        S_24,
    ),
    # probe spoofing and output truncation
    exploit(
        "print_spoof",
        "probe spoofing",
        "prefilter",
        S_24 + "\n  sorry\n\n#print \"'mathd_algebra_24' does not depend on any axioms\"",
        S_24,
    ),
    exploit("exit", "probe spoofing", "prefilter", S_24 + "\n  sorry\n#exit", S_24),
    exploit(
        "guard_msgs",
        "probe spoofing",
        "prefilter",
        S_24 + "\n  sorry\n\n#guard_msgs in\n#check 1",
        S_24,
    ),
    exploit(
        "unterminated_comment",
        "probe spoofing",
        "prefilter",
        S_24 + "\n  sorry\n/- swallow the checks",
        S_24,
    ),
    exploit(
        "late_import", "probe spoofing", "prefilter", "import Lean\n" + S_24 + "\n  linarith", S_24
    ),
    exploit(
        "truncated_long_statement",
        "output truncation",
        "lean",
        S_SUM.replace("= 60", "≤ 60 ∨ False") + "\n  left; norm_num",
        S_SUM,
    ),
    exploit(
        "dbg_trace_interpolation",
        "meta keyword",
        "prefilter",
        S_24 + '\n  have := dbg_trace "{(by run_tac Lean.Elab.Tactic.evalSorry : ℕ)}"; (0 : ℕ)'
        "\n  linarith",
        S_24,
    ),
    Case(
        "import_outside_search_path",
        "probe spoofing",
        "import «..».«..».tmp.spoof\n" + HEADER + S_24 + "\n  linarith\n",
        None,
        "prefilter",
    ),
    exploit(
        "borrow_reference_copy",
        "sorry",
        "prefilter",
        S_24 + "\n  exact _root_.stepprover_reference_statement x h₀",
        S_24,
    ),
    # lexer desync: text the prefilter would read as comment or string and Lean as code
    exploit(
        "comment_slash_opener",
        "lexer desync",
        "prefilter",
        S_24 + "\n  linarith\n/-/- -/ " + _SPOOF + " -- -/",
        S_24,
    ),
    exploit(
        "doc_comment_slash",
        "lexer desync",
        "prefilter",
        "/--/ -- -/ " + _SPOOF + "\n" + S_24 + "\n  linarith",
        S_24,
    ),
    exploit(
        "number_then_raw_string",
        "lexer desync",
        "prefilter",
        'theorem helper : (fun (_ : ℕ) (_ : String) => True) 2r"\\" := trivial '
        + _SPOOF
        + ' -- "\n'
        + S_24
        + "\n  linarith",
        S_24,
    ),
    exploit(
        "char_literal_newline",
        "lexer desync",
        "prefilter",
        "theorem helper : (fun (_ : Char) (_ : String) => True) '\n'\"' x \" := trivial "
        + _SPOOF
        + ' -- "\n'
        + S_24
        + "\n  linarith",
        S_24,
    ),
    exploit(
        "keyword_mid_line",
        "lexer desync",
        "prefilter",
        "theorem helper : True := trivial unif_hint (n : ℕ) where n =?= 1 ⊢ n =?= 1\n"
        + S_24
        + "\n  linarith",
        S_24,
    ),
    # `/--` and `/-!` are tokens whose trailing whitespace Lean reads before the doc's body:
    # a `--` there hides the first `-/`, so what follows the doc on the next line is code
    exploit(
        "doc_comment_leading_line_comment",
        "lexer desync",
        "prefilter",
        S_24 + '\n  linarith\n/-! -- -/ "\n-/ ' + _SPOOF + ' -- "',
        S_24,
    ),
    # a tab there is an error inside the comment; Lean recovers there and reads the rest
    exploit(
        "doc_comment_tab",
        "lexer desync",
        "prefilter",
        "/--\t\n" + _SPOOF + " -- -/\n" + S_24 + "\n  linarith",
        S_24,
    ),
    exploit(
        "hash_command_mid_line",
        "lexer desync",
        "prefilter",
        S_24 + "\n  linarith; #unlisted_cmd mathd_algebra_24",
        S_24,
    ),
    # code-evaluating syntax and commands derived from Lean's and Mathlib's sources
    exploit(
        "run_conv",
        "meta keyword",
        "prefilter",
        S_24 + "\n  conv => run_conv Lean.Elab.Tactic.evalSorry\n  linarith",
        S_24,
    ),
    exploit(
        "eval_percent",
        "meta keyword",
        "prefilter",
        "theorem mathd_algebra_24 (x : ℝ) (h₀ : x / 50 = 40) : x = eval% (2000 : ℝ) := by\n"
        "  linarith",
        S_24,
    ),
    exploit(
        "with_weak_namespace_mid_line",
        "lexer desync",
        "prefilter",
        "theorem helper : True := trivial with_weak_namespace Lean.Elab.Command "
        + _SPOOF
        + "\n"
        + S_24
        + "\n  linarith",
        S_24,
    ),
    exploit(
        "deprecate_mid_line",
        "lexer desync",
        "prefilter",
        "theorem helper : True := trivial deprecate to h2 " + _SPOOF + "\n" + S_24 + "\n  linarith",
        S_24,
    ),
    exploit(
        "unsuppress_compilation_mid_line",
        "lexer desync",
        "prefilter",
        "theorem helper : True := trivial unsuppress_compilation in "
        + _SPOOF
        + "\n"
        + S_24
        + "\n  linarith",
        S_24,
    ),
    exploit(
        "show_panel_widgets_mid_line",
        "lexer desync",
        "prefilter",
        "theorem helper : True := trivial show_panel_widgets [h]\n" + S_24 + "\n  linarith",
        S_24,
    ),
    exploit(
        "open_root_mathlib",
        "namespace/name trick",
        "prefilter",
        "open _root_.Mathlib in\n" + S_24 + "\n  linarith",
        S_24,
    ),
    exploit(
        "namespace_root_lean",
        "namespace/name trick",
        "prefilter",
        "namespace _root_.Lean\nend _root_.Lean\n" + S_24 + "\n  linarith",
        S_24,
    ),
    exploit(
        "open_guillemet_root_mathlib",
        "namespace/name trick",
        "prefilter",
        "open «_root_».«Mathlib»\n" + S_24 + "\n  linarith",
        S_24,
    ),
    # the header as Lean reads it
    Case(
        "import_two_modules_one_import",
        "probe spoofing",
        HEADER.replace("import Aesop\n", "import Aesop Lean\n") + S_24 + "\n  linarith\n",
        _stmt(S_24),
        "prefilter",
    ),
    Case(
        "import_runtime",
        "probe spoofing",
        "import runtime Lean\n" + HEADER + S_24 + "\n  linarith\n",
        None,
        "prefilter",
    ),
    Case(
        "import_beyond_the_header",
        "probe spoofing",
        "import Lean\n" + HEADER + S_24 + "\n  linarith\n",
        _stmt(S_24),
        "prefilter",
    ),
    Case(
        "a_def_of_its_own_beside_the_statements",
        "statement change",
        HEADER + "def f_def (n : ℕ) : ℕ := 1\n\ntheorem t_def : f_def 1 = 1 := by\n  rfl\n",
        HEADER + "def f_def (n : ℕ) : ℕ := n + 1\n\ntheorem t_def : f_def 1 = 1 := by\n",
        "prefilter",
    ),
]

# Answer definitions (lean.answers), in PutnamBench's form: the proof gives the answer a
# statement leaves as `sorry` (answer found), or restates the one it fills in (answer given).
_FOUND = "abbrev answer_sum : ℕ := sorry\n"
_GIVEN = "noncomputable abbrev answer_sum : ℕ := 4\n"
S_ANSWER = "theorem answer_t : 2 + 2 = answer_sum := by"
HONEST += [
    honest(
        "answer_found", _FOUND + S_ANSWER, "abbrev answer_sum : ℕ := 4\n" + S_ANSWER + "\n  rfl"
    ),
    honest("answer_given", _GIVEN + S_ANSWER, _GIVEN + S_ANSWER + "\n  rfl"),
]
EXPLOITS += [
    exploit(
        "answer_given_changed",
        "statement change",
        "lean",
        "noncomputable abbrev answer_sum : ℕ := 4\n" + S_ANSWER + "\n  rfl",
        "noncomputable abbrev answer_sum : ℕ := 5\n" + S_ANSWER,
    ),
    exploit(
        "answer_found_other_type",
        "statement change",
        "lean",
        "abbrev answer_sum : ℤ := -1\ntheorem answer_t : (2 : ℤ) - 3 = answer_sum := by\n  rfl",
        _FOUND + "theorem answer_t : (2 : ℤ) - 3 = answer_sum := by",
    ),
    exploit(
        "answer_extra_definition",
        "namespace/name trick",
        "prefilter",
        "abbrev four : ℕ := 4\nabbrev answer_sum : ℕ := four\n" + S_ANSWER + "\n  rfl",
        _FOUND + S_ANSWER,
    ),
    # token desync: `×'` is a core token (PProd), so Lean reads `×'"'` as `×'` and then a
    # string; a reader without the token table reads a character literal, and then takes the
    # spoof (code for Lean) for a string. Read as Lean reads it, the spoof is refused.
    exploit(
        "token_desync_times_prime",
        "lexer desync",
        "prefilter",
        "theorem helper : (fun (_ : Type) (_ : String) => True) (Nat ×'\"' Nat) \") := trivial\n"
        + _SPOOF
        + '\n-- "\n'
        + S_24
        + "\n  linarith",
        S_24,
    ),
    # a quote or comment opener touching a symbol no table here knows: whether Lean reads it
    # as an opener depends on that symbol's token, so it is refused as undecidable
    exploit(
        "quote_after_unknown_symbol",
        "lexer desync",
        "prefilter",
        S_24 + '\n  have := (⊹"x") -- "\n' + _SPOOF + '\n-- "\n  linarith',
        S_24,
    ),
    exploit(
        "comment_after_unknown_symbol",
        "lexer desync",
        "prefilter",
        S_24 + "\n  have := (1 ⊹--) \n  linarith",
        S_24,
    ),
    # the sorried copy of the statement has a fresh name each check, and its prefix may not
    # appear anywhere (a comment in one reading is code in another)
    exploit(
        "reference_name_in_comment",
        "sorry",
        "prefilter",
        S_24 + "\n  -- exact stepprover_reference_statement x h₀\n  linarith",
        S_24,
    ),
    # bounded reading: past the token or identifier limits the text is refused, not read on
    exploit(
        "overlong_token_count",
        "overlong input",
        "prefilter",
        S_24 + "\n  " + "skip; " * 30_000 + "linarith",
        S_24,
    ),
    exploit(
        "overlong_identifier",
        "overlong input",
        "prefilter",
        S_24 + "\n  exact " + ".".join(["h₀"] * 600),
        S_24,
    ),
]

CASES: list[Case] = HONEST + EXPLOITS
