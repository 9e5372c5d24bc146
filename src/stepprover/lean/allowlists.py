"""What a proof may contain after its import block: commands, attributes, options.

The verifier is a security boundary, so these are allow-lists: anything not
named here is refused before Lean runs (see ``prefilter``). They were built
from the published miniF2F proof sets, counted with
``benchmarks/prefilter_published.py``:

- DeepSeek-Prover-V2 ``minif2f-solutions.zip`` (github deepseek-ai/DeepSeek-Prover-V2,
  438 proofs, test and valid);
- Kimina-Prover-Preview ``minif2f_test_solved.zip`` and
  ``minif2f_test_solved_filtered_0710.zip`` (github MoonshotAI/Kimina-Prover-Preview,
  197 + 28 proofs);
- DSP+ ``minif2f-test-solution.zip`` (github microsoft/DSP-Plus, 204 proofs);
- BFS-Prover-V2 ``MiniF2F/`` (github nyc030325/BFS-Prover-V2, 228 proofs);
- Seed-Prover ``SeedProver/MiniF2F.zip`` (github ByteDance-Seed/Seed-Prover, 30 proofs).

Those sets use, after the imports, only ``theorem``, ``lemma``, ``open`` (also
``open … in``), ``set_option`` (resource limits, ``tactic.hygienic``, two display
options), ``add_aesop_rules`` and ``#print axioms`` (and, in BFS-Prover-V2's planner
proofs, ``elab`` and ``macro``: meta code, refused by policy). A few entries come from the
list of honest forms the verifier must accept (``HONEST_FORMS``) instead (balanced
``namespace``/``section``, ``private``, attributes that only tag a proved lemma, linter
options); their source says so. Widening a list is a deliberate ``VerifyConfig`` setting
(``extra_commands``, ``extra_attributes``, ``extra_options``), never an edit here without
a test.

The deny-lists below (``COMMAND_KEYWORDS``, ``HASH_COMMANDS``) are typed, and extended at
import with what ``scripts/derive_lean_lists.py`` derived from the pinned sources
(``derived_lists.json``: command keywords, and ``DENIED_SYNTAX``, the syntax whose
elaborator evaluates the proof's text as code), each derived entry naming its file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

DEEPSEEK = "DeepSeek-Prover-V2 minif2f-solutions"
KIMINA = "Kimina-Prover-Preview minif2f_test_solved"
DSP_PLUS = "DSP+ minif2f-test-solution"
SEED = "Seed-Prover SeedProver/MiniF2F.zip"
BFS = "BFS-Prover-V2 MiniF2F/prover"
HONEST_FORMS = "honest forms the verifier must accept (stepprover lean selftest's honest cases)"


@dataclass(frozen=True)
class Entry:
    reason: str
    """Why it cannot change what the checks after Lean report."""
    source: str
    """Where the entry came from: a published proof set, or the issue that asked for it."""


COMMANDS: dict[str, Entry] = {
    "theorem": Entry(
        "declares the theorem; its axioms and statement are checked",
        f"{DEEPSEEK}, {KIMINA}, {DSP_PLUS}",
    ),
    "lemma": Entry("Mathlib's synonym of theorem (helper lemmas)", f"{DEEPSEEK}, {KIMINA}"),
    "open": Entry(
        "name resolution only; a changed statement is caught by the comparison",
        f"{DEEPSEEK}, {KIMINA}, {DSP_PLUS}",
    ),
    "set_option": Entry(
        "only options of OPTIONS (resource limits)", f"{DEEPSEEK}, {KIMINA}, {DSP_PLUS}"
    ),
    "add_aesop_rules": Entry(
        "adds Aesop rules (proved lemmas, tactic scripts); runs no code of its own", DSP_PLUS
    ),
    "namespace": Entry(
        "scoping only; must be closed by a matching end before the checks", HONEST_FORMS
    ),
    "section": Entry(
        "scoping only; must be closed by a matching end before the checks", HONEST_FORMS
    ),
    "end": Entry("closes the innermost namespace or section, names must match", HONEST_FORMS),
}
"""Commands allowed after the import block, keyed by their keyword."""

MODIFIERS: dict[str, Entry] = {
    "private": Entry("hides the name outside the file; the checks resolve it", HONEST_FORMS),
    "protected": Entry("affects name resolution only", HONEST_FORMS),
    "noncomputable": Entry("no code is generated (theorems have none)", HONEST_FORMS),
}
"""Declaration modifiers allowed before an allowed command."""

ATTRIBUTES: dict[str, Entry] = {
    "simp": Entry("tags a proved lemma for simp; runs no code", HONEST_FORMS),
    "aesop": Entry("tags a proved lemma as an Aesop rule; runs no code", HONEST_FORMS),
    "norm_cast": Entry("tags a proved lemma for norm_cast; runs no code", HONEST_FORMS),
    "push_cast": Entry("tags a proved lemma for push_cast; runs no code", HONEST_FORMS),
    "field_simps": Entry("tags a proved lemma for field_simp; runs no code", HONEST_FORMS),
}
"""Attributes a proof may put on its own lemmas (``@[...]``). Everything else is
refused, in particular those that register meta code: command_elab, tactic,
term_elab, delab, app_unexpander, macro, norm_num and positivity extensions,
simproc, init, implemented_by, extern, csimp, instance."""

OPTIONS: dict[tuple[str, ...], Entry] = {
    ("maxHeartbeats",): Entry(
        "elaboration time limit; the verifier's timeout still applies",
        f"{DEEPSEEK}, {KIMINA}, {DSP_PLUS}",
    ),
    ("maxRecDepth",): Entry("recursion limit of the elaborator", f"{KIMINA}, {DSP_PLUS}"),
    ("synthInstance", "maxHeartbeats"): Entry("instance search time limit", HONEST_FORMS),
    ("synthInstance", "maxSize"): Entry("instance search size limit", HONEST_FORMS),
    ("exponentiation", "threshold"): Entry(
        "largest exponent evaluated by whnf; a resource limit", HONEST_FORMS
    ),
    ("maxSynthPendingDepth",): Entry(
        "depth limit of nested instance problems during elaboration; a resource limit", BFS
    ),
    ("tactic", "hygienic"): Entry(
        "lets the proof's tactics name hypotheses they introduce; only how the proof's own "
        "tactic blocks elaborate, the checks run no tactic",
        SEED,
    ),
    ("pp", "numericTypes"): Entry(
        "prints numerals with their type in goals; the checks read no printed term", SEED
    ),
    ("pp", "funBinderTypes"): Entry(
        "prints the binder types of lambdas in goals; the checks read no printed term", SEED
    ),
    ("pp", "piBinderTypes"): Entry(
        "prints the binder types of foralls in goals; the checks read no printed term",
        HONEST_FORMS,
    ),
    ("pp", "letVarTypes"): Entry(
        "prints the types of let variables in goals; the checks read no printed term",
        HONEST_FORMS,
    ),
}
"""Options a proof may set (``set_option``, at command, tactic or term level, and
``set_option … in``), as name components the way Lean reads them (guillemets
removed, split at dots outside guillemets). Anything else is refused: options that
skip the kernel (``debug.*``), move messages out of the reply (``Elab.async``,
``maxErrors``), or change printing or add messages (``pp.*`` beyond the binder and
numeral types above, ``format.*``, ``trace.*``)."""

OPTION_PREFIXES: dict[tuple[str, ...], Entry] = {
    ("linter",): Entry(
        "a linter only adds warnings, and the verdict reads errors and the checks' own "
        "answers, never a warning (``set_option linter.unusedVariables false in``)",
        HONEST_FORMS,
    ),
}
"""Option families a proof may set: every option whose name starts with the components."""

HASH_COMMANDS_ALLOWED: dict[tuple[str, str], Entry] = {
    ("#print", "axioms"): Entry(
        "prints the axioms of a declared name: reads the environment, changes nothing; its "
        "answer lies on the proof's lines, where the verdict never reads one",
        SEED,
    ),
}
"""``#``-commands allowed with their first word, followed by one name (``#print axioms x``)."""

# -- deny-lists: words that can never be honest, wherever they appear -----------------

COMMAND_KEYWORDS: dict[str, str] = {
    # Lean core commands that can register meta code, change parsing, add facts or hide output
    "elab": "defines a custom elaborator",
    "elab_rules": "defines custom elaboration rules",
    "macro": "defines a custom macro",
    "macro_rules": "defines custom macro rules",
    "syntax": "defines custom syntax",
    "declare_syntax_cat": "defines a syntax category",
    "notation": "redefines notation",
    "infix": "redefines notation",
    "infixl": "redefines notation",
    "infixr": "redefines notation",
    "prefix": "redefines notation",
    "postfix": "redefines notation",
    "notation3": "redefines notation",
    "binder_predicate": "redefines notation",
    "axiom": "declares a new axiom",
    "opaque": "declares an opaque constant (can carry implemented_by)",
    "def": "defines code (not in the allow-list; widen with VerifyConfig.extra_commands)",
    "abbrev": "defines code (not in the allow-list)",
    "instance": "declares an instance (not in the allow-list)",
    "structure": "declares a structure (not in the allow-list)",
    "class": "declares a class (not in the allow-list)",
    "inductive": "declares an inductive type (not in the allow-list)",
    "example": "declares nothing the checks can see",
    "attribute": "changes attributes of existing declarations",
    "initialize": "runs code when the environment is loaded",
    "builtin_initialize": "runs code when the environment is loaded",
    "run_cmd": "runs arbitrary code at elaboration time",
    "run_elab": "runs arbitrary code at elaboration time",
    "run_meta": "runs arbitrary code at elaboration time",
    "import": "imports after the header",
    "export": "adds aliases to the root namespace",
    "universe": "declares universes (not in the allow-list)",
    "variable": "declares section variables (not in the allow-list)",
    "mutual": "not in the allow-list",
    "deriving": "runs deriving handlers",
    "register_option": "registers an option",
    "register_builtin_option": "registers an option",
    "register_simp_attr": "registers an attribute",
    "register_label_attr": "registers an attribute",
    "declare_config_elab": "defines an elaborator",
    "declare_simp_like_tactic": "defines a tactic",
    "simproc": "registers a simp procedure (meta code run by simp)",
    "simproc_decl": "declares a simp procedure (meta code)",
    "dsimproc": "registers a simp procedure (meta code run by simp)",
    "dsimproc_decl": "declares a simp procedure (meta code)",
    "builtin_simproc": "registers a simp procedure",
    "builtin_dsimproc": "registers a simp procedure",
    "grind_pattern": "changes grind's rules",
    "add_decl_doc": "not in the allow-list",
    "omit": "not in the allow-list",
    "include": "not in the allow-list",
    "local": "local notation, instances or attributes before the theorem",
    "scoped": "scoped notation, instances or attributes",
    "erase_aesop_rules": "not in the allow-list",
    "declare_aesop_rule_sets": "not in the allow-list",
    "irreducible_def": "defines code (not in the allow-list)",
    "alias": "adds declarations (not in the allow-list)",
    "initialize_simps_projections": "not in the allow-list",
    "suppress_compilation": "not in the allow-list",
    "unseal": "changes reducibility of existing declarations",
    "seal": "changes reducibility of existing declarations",
    "library_note": "not in the allow-list",
    "assert_not_exists": "not in the allow-list",
    "compile_inductive": "not in the allow-list",
    "count_heartbeats": "wraps commands",
    "proof_wanted": "declares an unproved statement",
    "recall": "not in the allow-list",
    # found missing by the red-team pass: a keyword missing here is invisible mid-line
    # (`theorem a : P := rfl unif_hint …`), since a command is found at column 0 or by keyword
    "unif_hint": "adds unification hints (changes elaboration)",
    "init_quot": "adds the Quot axioms",
    "gen_injective_theorems": "adds declarations (not in the allow-list)",
    "mixfix": "redefines notation",
    "register_tactic_tag": "not in the allow-list",
    "tactic_extension": "not in the allow-list",
    "recommended_spelling": "not in the allow-list",
    "register_error_explanation": "not in the allow-list",
    "declare_command_config_elab": "defines an elaborator",
    "builtin_simproc_decl": "declares a simp procedure (meta code)",
    "builtin_dsimproc_decl": "declares a simp procedure (meta code)",
    "simproc_pattern": "registers a simp procedure",
    "builtin_simproc_pattern": "registers a simp procedure",
    "whatsnew": "wraps a command and prints the environment's changes",
    "variable?": "declares section variables (not in the allow-list)",
    "assert_not_imported": "not in the allow-list",
    "extend_docs": "not in the allow-list",
    "register_hint": "registers a tactic for hint (meta code)",
    "register_linter_set": "not in the allow-list",
    "mk_iff_of_inductive_prop": "adds declarations (not in the allow-list)",
    "declare_uint_theorems": "adds declarations (not in the allow-list)",
    "declare_bitwise_int_theorems": "adds declarations (not in the allow-list)",
}
"""Keywords that start a command Lean or Mathlib knows and the allow-list does not
hold (reason each). They are refused wherever they appear, even indented or
mid-line, since Lean's parser starts a new command at such a keyword."""

HASH_COMMANDS: frozenset[str] = frozenset(
    {
        "#eval",
        "#eval!",
        "#exit",
        "#print",
        "#check",
        "#check_failure",
        "#reduce",
        "#synth",
        "#guard_msgs",
        "#guard",
        "#guard_expr",
        "#help",
        "#find",
        "#find_home",
        "#simp",
        "#norm_num",
        "#conv",
        "#where",
        "#version",
        "#lint",
        "#widget",
        "#html",
        "#test",
        "#sample",
        "#time",
        "#count_heartbeats",
        "#adaptation_note",
        "#long_names",
        "#explode",
        "#push_neg",
        "#whnf",
        "#whnfR",
        "#instances",
        "#kerodon",
        "#leansearch",
        "#loogle",
        "#moogle",
        "#statesearch",
        "#unfold?",
        "#parse",
        "#testing",
        "#discr_tree_key",
        "#discr_tree_simp_key",
        "#check_tactic",
        "#check_simp",
        "#defeq_abuse",
        "#min_imports",
        "#import_bumps",
        "#info_trees",
        "#show_unused",
        "#list_linters",
        "#dump_async_env",
        "#compile",
        "#exact?",
        "#trans_imports",
        "#norm_num1",
    }
)
"""``#``-commands. None is allowed: they run code, print text near the checks' answers,
or stop elaboration (``#exit``). One at a command position is refused even if it is not
listed; a listed one is refused anywhere."""

DENIED_WORDS: dict[str, str] = {
    "unsafe": "uses unsafe code",
    "implemented_by": "replaces a definition's code (implemented_by)",
    "extern": "binds a definition to external code (@[extern])",
    "partial": "defines code (partial def)",
    "unsafeCast": "unsafe primitive",
    "unsafeIO": "runs IO from pure code",
    "unsafeBaseIO": "runs IO from pure code",
    "unsafeEIO": "runs IO from pure code",
    "ptrAddrUnsafe": "unsafe primitive",
    "withPtrAddrUnsafe": "unsafe primitive",
    "TacticM": "meta code type",
    "TermElabM": "meta code type",
    "CommandElabM": "meta code type",
    "MetaM": "meta code type",
    "CoreM": "meta code type",
}
"""Words refused anywhere outside comments and strings (tactic and term level)."""

META_NAMESPACES: dict[str, str] = {
    "Lean": "Lean's own meta API (elaborator, environment, options)",
    "IO": "input/output from a proof",
    "EIO": "input/output from a proof",
    "BaseIO": "input/output from a proof",
    "System": "input/output from a proof",
    "Mathlib.Tactic": "meta code of Mathlib's tactics",
    "Mathlib.Meta": "meta code of Mathlib",
    "Batteries.Tactic": "meta code of Batteries' tactics",
    "Std.Tactic": "meta code",
    "Qq": "quoted meta code",
    "ProofWidgets": "widgets run code",
    "Plausible": "runs compiled code on the proof's terms",
}
"""Namespaces a proof may not name, open or enter (first components of a name)."""


# -- derived from Lean's and Mathlib's sources (scripts/derive_lean_lists.py) --------------


@dataclass(frozen=True)
class Derived:
    """``derived_lists.json``: what the derivation script read from the pinned sources."""

    commands: dict[str, str]
    """Command keyword -> the file that declares it (``REPO:PATH``)."""
    code_evaluating: dict[str, tuple[str, str]]
    """Keyword of a syntax whose elaborator evaluates a user term, tactic or conv block as
    code -> (file, why: ``its elaborator evaluates`` or ``expands to K``)."""
    sources: list[dict[str, str]]
    """The repositories and revisions read."""


def load_derived() -> Derived:
    raw = json.loads(
        resources.files("stepprover.lean").joinpath("derived_lists.json").read_text("utf-8")
    )
    return Derived(
        {k: v["file"] for k, v in raw["commands"].items()},
        {k: (v["file"], v["why"]) for k, v in raw["code_evaluating"].items()},
        raw["sources"],
    )


DERIVED = load_derived()

for _atom, _file in DERIVED.commands.items():
    _word = _atom.rstrip("%")  # `gen_injective_theorems%`: the word Lean's lexer reads first
    if _word.startswith("#"):
        HASH_COMMANDS = HASH_COMMANDS | {_word}
    elif _word not in COMMANDS:
        COMMAND_KEYWORDS.setdefault(_word, f"a command ({_file}) the allow-list does not hold")

DENIED_SYNTAX: dict[str, str] = {
    word: f"evaluates code at elaboration time ({why}; {file})"
    for word, (file, why) in DERIVED.code_evaluating.items()
    if not word.startswith("#") and word not in COMMAND_KEYWORDS
}
"""Tactic, term and conv syntax that runs the proof's own text as code (``run_tac``,
``run_conv``, ``by_elab``, ``eval%``), refused anywhere outside comments and strings. Entries
are written as their first atom (``eval%`` is the word ``eval`` touching ``%``)."""
