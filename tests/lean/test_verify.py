"""Verdicts and integrity checks, with scripted stand-in replies (the stand-in is not Lean)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from stepprover.data.problems import bundled_path, load_jsonl
from stepprover.lean.lean_texts import STATEMENT_MISMATCH
from stepprover.lean.pool import ReplPool
from stepprover.lean.protocol import Message, reply_from_json
from stepprover.lean.verify import (
    REFERENCE_NAME,
    RULES_VERSION,
    LeanVerifier,
    Outcome,
    Plan,
    VerifyConfig,
    axioms_report,
    judge,
    plan,
    plan_off_loop,
    statement_check,
)
from tests.conftest import standin_pool_config

HEADER = "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen Real\n\n"
STATEMENT = HEADER + "theorem t1 (x : ℝ) (h : x = 2) : x + x = 4 := by\n"
# `#print axioms` answers. Text: Lean src/Lean/Elab/Print.lean (printAxiomsOf) at commit
# 02637a033e9d4f8f99001e01925625452fbb77c4: `'{constName}' depends on axioms: {list}` and
# `'{constName}' does not depend on any axioms`; the list is a Format that wraps lines.
STD_AXIOMS = "'t1' depends on axioms: [propext,\n Classical.choice,\n Quot.sound]"
# The statement check's failure: the error its `throwError` raises (verify.statement_check).
GUARD_FAILED = STATEMENT_MISMATCH

# Lines counted from the command's end (the stand-in's negative lines): the command ends with
# the probe and a newline, so -2 is the last probe line. With a statement the probe is
# the statement check (-3) then `#print axioms` (-2), after two blank lines: the tactic line is -6.
AXIOMS, GUARD, TACTIC = -2, -3, -6


def msg(severity: str, line: int, data: str) -> dict[str, Any]:
    return {
        "severity": severity,
        "pos": {"line": line, "column": 0},
        "endPos": {"line": line, "column": 5},
        "data": data,
    }


def proof(tactic: str, name: str = "t1") -> str:
    return HEADER + f"theorem {name} (x : ℝ) (h : x = 2) : x + x = 4 := by\n  {tactic}\n"


SCRIPT = [
    [
        "case_ok",
        {
            "messages": [
                msg("warning", 2, "declaration uses 'sorry'"),  # the reference
                msg("info", AXIOMS, STD_AXIOMS),
            ]
        },
    ],
    ["case_no_types", {"messages": [msg("info", AXIOMS, STD_AXIOMS)]}],
    [
        "case_error",
        {"messages": [msg("error", TACTIC, "linarith failed"), msg("info", AXIOMS, STD_AXIOMS)]},
    ],
    [
        "case_sorry_old",
        {
            "messages": [
                msg("warning", TACTIC - 1, "declaration uses 'sorry'"),
                msg("info", AXIOMS, "'t1' depends on axioms: [sorryAx]"),
            ]
        },
    ],
    ["case_sorry_new", {"messages": [msg("warning", TACTIC - 1, "declaration uses `sorry`")]}],
    ["case_sorry_hidden", {"messages": [msg("info", AXIOMS, "'t1' depends on axioms: [sorryAx]")]}],
    ["case_no_axioms_line", {"messages": []}],
    [
        "case_native",
        {"messages": [msg("info", AXIOMS, "'t1' depends on axioms: [propext, Lean.ofReduceBool]")]},
    ],
    ["case_forged", {"messages": [msg("info", TACTIC, "'t1' does not depend on any axioms")]}],
    # Lean finds t1's type different from the statement's: the comparison (only sent with a
    # statement, right after the proof) fails; without a statement the same proof passes
    [
        "case_other_type\n\n\n#eval",
        {"messages": [msg("error", GUARD, GUARD_FAILED), msg("info", AXIOMS, STD_AXIOMS)]},
    ],
    ["case_other_type", {"messages": [msg("info", AXIOMS, STD_AXIOMS)]}],
    ["case_pure", {"messages": [msg("info", AXIOMS, "'t1' does not depend on any axioms")]}],
    ["case_truncated", {"messages": [msg("info", AXIOMS, "'t1' depends on axioms: [propext, ⋯]")]}],
    ["case_statement_broken", {"messages": [msg("error", 9, "unknown identifier 'foo'")]}],
    [
        "case_runs_into_probe",
        {"messages": [msg("error", GUARD, "unexpected token '#eval'; expected term")]},
    ],
    # REPL/Main.lean runCommand at bump_to_v4.20.1: an exception while processing a command is
    # answered {"message": ex.toString}, with no "Lean error:" prefix (only runProofStep adds it)
    ["case_command_threw", {"message": "(kernel) deep recursion detected"}],
    ["case_unknown_env", {"message": "Unknown environment."}],
]


@pytest.fixture
async def verifier(script_file: Callable[[Any], str]) -> AsyncIterator[LeanVerifier]:
    config = standin_pool_config("--script", script_file(SCRIPT), workers=2)
    async with ReplPool(config) as pool:
        yield LeanVerifier(pool, VerifyConfig(timeout=2.0))


async def test_proved(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("nlinarith -- case_ok"), statement=STATEMENT)
    assert verdict.outcome is Outcome.PROVED, verdict.reason
    assert verdict.axioms == ["propext", "Classical.choice", "Quot.sound"]
    assert verdict.proved and verdict.elapsed > 0


async def test_no_axioms_at_all_is_fine(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("case_pure"), statement=STATEMENT)
    assert verdict.outcome is Outcome.PROVED and verdict.axioms == []


async def test_without_statement_checks_axioms_of_declared_theorems(verifier: LeanVerifier) -> None:
    assert (await verifier.check(proof("case_no_types"))).proved


async def test_lean_error_with_positions_in_file_coordinates(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("linarith -- case_error"), statement=STATEMENT)
    assert verdict.outcome is Outcome.LEAN_ERROR and verdict.reason == "linarith failed"
    # the tactic is line 9 of the submitted file, whatever the statement block before it adds
    assert verdict.messages[0].pos.line == 9


async def test_lean_error_reply(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("case_command_threw"))
    assert verdict.outcome is Outcome.LEAN_ERROR and "deep recursion" in verdict.reason
    assert verdict.attempts == 1  # Lean's answer to this text: not a crash, not retried


async def test_an_unknown_environment_is_the_pools_fault_not_the_proofs(
    verifier: LeanVerifier,
) -> None:
    verdict = await verifier.check(proof("case_unknown_env"))
    assert verdict.outcome is Outcome.CRASH and verdict.reason == "Unknown environment."


@pytest.mark.parametrize("case", ["case_sorry_old", "case_sorry_new", "case_sorry_hidden"])
async def test_sorry_in_both_quote_styles(verifier: LeanVerifier, case: str) -> None:
    verdict = await verifier.check(proof(f"exact sorry -- {case}"), statement=STATEMENT)
    assert verdict.outcome is Outcome.SORRY


async def test_missing_axioms_report_fails(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("case_no_axioms_line"), statement=STATEMENT)
    assert verdict.outcome is Outcome.REJECTED and "no axioms report" in verdict.reason


async def test_native_decide_axiom_fails(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("native_decide -- case_native"), statement=STATEMENT)
    assert verdict.outcome is Outcome.REJECTED and "Lean.ofReduceBool" in verdict.reason


async def test_axioms_report_printed_by_the_proof_itself_is_ignored(verifier: LeanVerifier) -> None:
    # e.g. `#print "'t1' does not depend on any axioms"` inside the proof: wrong lines, not trusted.
    verdict = await verifier.check(proof("case_forged"), statement=STATEMENT)
    assert verdict.outcome is Outcome.REJECTED and "no axioms report" in verdict.reason


async def test_statement_that_lean_finds_different_is_rejected(verifier: LeanVerifier) -> None:
    cheat = proof("norm_num -- case_other_type").replace("x + x = 4", "x + x = 4 ∨ True")
    verdict = await verifier.check(cheat, statement=STATEMENT)
    assert (
        verdict.outcome is Outcome.REJECTED
        and "does not prove the given statement" in verdict.reason
    )


async def test_truncated_axioms_report_fails_closed(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("case_truncated"), statement=STATEMENT)
    assert verdict.outcome is Outcome.REJECTED and "truncated" in verdict.reason


async def test_statement_that_does_not_elaborate_is_named(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("case_statement_broken"), statement=STATEMENT)
    assert verdict.outcome is Outcome.REJECTED and "statement does not elaborate" in verdict.reason


async def test_parse_error_running_into_the_probe_is_a_lean_error(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(
        proof("have h2 : x = x := -- case_runs_into_probe"), statement=STATEMENT
    )
    assert verdict.outcome is Outcome.LEAN_ERROR and "does not parse" in verdict.reason


async def test_proof_of_another_theorem_is_rejected(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("case_ok", name="t2"), statement=STATEMENT)
    assert verdict.outcome is Outcome.REJECTED and "t1" in verdict.reason


async def test_prefilter_rejects_before_lean_runs(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("case_ok\n#exit"), statement=STATEMENT)
    assert verdict.outcome is Outcome.REJECTED and "line 10: `#exit`" in verdict.reason
    assert verdict.reply is None


async def test_timeout(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("-- standin:hang"), timeout=0.5)
    assert verdict.outcome is Outcome.TIMEOUT


async def test_crash_is_retried_once_then_reported(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(proof("-- standin:crash"))
    assert verdict.outcome is Outcome.CRASH and verdict.attempts == 2
    assert "standin: crash requested" in verdict.reason
    assert (await verifier.check(proof("case_no_types"))).proved, "the pool keeps serving"


async def test_crash_retry_on_a_fresh_worker_can_succeed(
    verifier: LeanVerifier, tmp_path: Path
) -> None:
    flag = tmp_path / "crashed"
    verdict = await verifier.check(proof(f"-- standin:crash-once={flag} case_no_types"))
    assert verdict.proved and verdict.attempts == 2 and flag.exists()


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (b"theorem t1 : True := by\n  \xff\xfe", "not UTF-8"),
        ("theorem t1 : True := by\n" + "  -- pad\n" * 200_000, "over the"),
        ("import Mathlib\nimport Aesop\n\n", "empty"),
        ("", "empty"),
        ("open Real\n", "declares no theorem"),
    ],
)
async def test_bad_input_gets_a_clear_verdict(
    verifier: LeanVerifier, code: str | bytes, reason: str
) -> None:
    verdict = await verifier.check(code)
    assert verdict.outcome is Outcome.REJECTED and reason in verdict.reason


# -- the plan: what is sent to Lean (pure text, no REPL) -----------------------------------


def planned(code: str, statement: str | None = None) -> Plan:
    result = plan(code, statement)
    assert isinstance(result, Plan), result
    return result


def test_statement_block_comes_first_renamed_and_the_probe_compares_with_lean() -> None:
    p = planned(proof("nlinarith"), STATEMENT)
    lines = p.command.splitlines()
    copy = p.reference_name
    assert copy.startswith(REFERENCE_NAME + "_") and len(copy) > len(REFERENCE_NAME) + 8
    assert lines[0] == "section" and f"theorem _root_.{copy} (x : ℝ)" in p.command
    assert p.command.index(copy) < p.command.index("theorem t1")
    assert lines[p.probe_line - 1] == statement_check("t1", copy)
    assert lines[p.probe_line] == "#print axioms _root_.t1"
    assert p.names == ["t1"] and p.compares_statement
    # a line of the proof maps back to its line in the submitted file
    assert lines[9 - 1 - p.line_shift] == "  nlinarith"


UNIVERSE_STATEMENT = (
    "import Mathlib\n\ntheorem my_comm {α : Type*} [CommMonoid α] (a b : α) : a * b = b * a := by\n"
)


def test_a_universe_polymorphic_statement_is_compared_with_shared_universe_parameters() -> None:
    """The command sent compares the two constants' types after giving the proof's theorem
    the statement's universe parameters, position by position: ``#guard_expr … =ₐ …`` would
    compare two sets of fresh universe metavariables, which are never ``Expr.eqv``."""
    code = UNIVERSE_STATEMENT.replace(":= by\n", ":= by\n  exact mul_comm a b\n")
    p = planned(code, UNIVERSE_STATEMENT)
    check = p.command.splitlines()[p.probe_line - 1]
    assert check == (
        "#eval show _root_.Lean.MetaM _root_.Unit from do "
        f"let r ← _root_.Lean.getConstInfo ``_root_.{p.reference_name}; "
        "let t ← _root_.Lean.getConstInfo ``_root_.my_comm; "
        "let us := r.levelParams.map _root_.Lean.Level.param; "
        "unless t.levelParams.length == us.length && "
        "(t.instantiateTypeLevelParams us).eqv r.type do "
        f'throwError "{STATEMENT_MISMATCH}"'
    )
    assert "#guard_expr" not in p.command and "type_of%" not in p.command
    assert p.command.splitlines()[p.probe_line] == "#print axioms _root_.my_comm"


def test_the_statement_check_names_guillemet_and_private_theorems_as_written() -> None:
    assert "``_root_.«my thm»;" in statement_check("«my thm»")
    assert "``_root_.Foo.bar;" in statement_check("Foo.bar")


def test_without_statement_every_declared_theorem_is_checked_by_resolved_name() -> None:
    code = HEADER + (
        "namespace Helpers\nlemma sq_pos' (x : ℝ) : 0 ≤ x ^ 2 := sq_nonneg x\nend Helpers\n"
        "private theorem «my main» : True := trivial\n"
        "theorem _root_.t2 : True := trivial\n"
    )
    p = planned(code)
    assert p.names == ["Helpers.sq_pos'", "«my main»", "t2"]
    assert p.command.splitlines()[p.probe_line - 1 :] == [
        "#print axioms _root_.Helpers.sq_pos'",
        "#print axioms _root_.«my main»",
        "#print axioms _root_.t2",
    ]


def test_honest_variants_of_the_statement_are_left_to_lean_not_refused() -> None:
    # renamed bound variable, lemma for theorem, a docstring, `open … in`, private, helpers in a
    # balanced namespace: all reach Lean, where `=ₐ` ignores what does not change the theorem
    variant = HEADER + (
        "namespace Aux\ntheorem two_mul' (y : ℝ) : y + y = 2 * y := by ring\nend Aux\n"
        "/-- the sum -/\nopen Real in\nprivate lemma t1 (z : ℝ) (hz : z = 2) : z + z = 4 := by\n"
        "  rw [Aux.two_mul']; linarith\n"
    )
    assert planned(variant, STATEMENT).names == ["t1"]


def test_a_theorem_inside_a_namespace_is_not_the_statements_theorem() -> None:
    code = (
        HEADER
        + "namespace X\ntheorem t1 (x : ℝ) (h : x = 2) : x + x = 4 := by\n  linarith\nend X\n"
    )
    assert plan(code, STATEMENT) == "the proof does not declare theorem t1"


def test_a_module_beyond_the_statements_header_is_refused() -> None:
    code = proof("linarith").replace("import Aesop\n", "import Mathlib.Tactic\n")
    reason = str(plan(code, STATEMENT))
    assert "the proof imports Mathlib.Tactic, beyond the statement's header" in reason


def test_a_proof_importing_part_of_the_header_runs_in_the_headers_env() -> None:
    # published proofs import only Mathlib under a header that also imports Aesop (which
    # Mathlib imports): the statement was posed under the header, so that is the environment
    code = proof("linarith").replace("import Aesop\n", "")
    planned = plan(code, STATEMENT)
    assert isinstance(planned, Plan)
    assert planned.imports == "import Mathlib\nimport Aesop"
    # reordered or repeated imports of the header's modules are the same header
    swapped = proof("linarith").replace(
        "import Mathlib\nimport Aesop\n", "import Aesop\nimport Mathlib import Aesop\n"
    )
    assert isinstance(swapped_plan := plan(swapped, STATEMENT), Plan)
    assert swapped_plan.imports == planned.imports


def test_check_without_a_statement_keeps_the_proofs_own_imports() -> None:
    planned = plan(proof("linarith").replace("import Aesop\n", ""), None)
    assert isinstance(planned, Plan) and planned.imports == "import Mathlib"


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("import Mathlib Aesop\n", "Lean's header takes one module per `import`"),
        ("import runtime Mathlib\n", "`import runtime` imports a module for running code"),
        ("prelude\nimport Mathlib\n", "`prelude` drops Lean's core library"),
        ("import\n", "`import` without a module name"),
    ],
)
def test_headers_lean_refuses_are_refused_with_the_reason(header: str, why: str) -> None:
    code = header + proof("linarith").split("\n", 2)[2]
    assert why in str(plan(code, None))
    assert why in str(plan(code, STATEMENT))


DEF_STATEMENT = HEADER + "def f (n : ℕ) : ℕ := n + 1\n\ntheorem t1 : f 1 = 2 := by\n"


def test_a_statement_with_a_def_is_trusted_and_the_proof_may_carry_it() -> None:
    # the statement is the benchmark's: its `def` is not judged by the allow-list
    planned = plan(HEADER + "theorem t1 : f 1 = 2 := by\n  rfl\n", DEF_STATEMENT)
    assert isinstance(planned, Plan) and "def f" in planned.command
    # a proof that repeats the statement's preamble gets the reference after it, not twice
    carried = DEF_STATEMENT + "  rfl\n"
    planned = plan(carried, DEF_STATEMENT)
    assert isinstance(planned, Plan)
    assert planned.command.count("def f") == 1
    before_ref = planned.command.split("section\n", 1)[0]
    assert before_ref.rstrip().endswith("def f (n : ℕ) : ℕ := n + 1")
    assert planned.reference_start == before_ref.count("\n") + 1
    # a def of the proof's own is still refused, as is one that extends the statement's
    extended = carried.replace(
        "def f (n : ℕ) : ℕ := n + 1\n", "def f (n : ℕ) : ℕ := n + 1\n  + 0\n"
    )
    assert "`def`" in str(plan(extended, DEF_STATEMENT))
    own = HEADER + "def g := 1\ntheorem t1 : f 1 = 2 := by\n  rfl\n"
    assert "`def`" in str(plan(own, DEF_STATEMENT))
    assert "`def`" in str(plan(carried, None)), "without a statement nothing is trusted"


def test_lines_around_the_statements_block_map_back_to_the_file() -> None:
    carried = DEF_STATEMENT + "  rfl\n"
    planned = plan(carried, DEF_STATEMENT)
    assert isinstance(planned, Plan)
    lines = planned.command.split("\n")
    tactic = lines.index("  rfl") + 1
    def_line = next(i for i, t in enumerate(lines, 1) if t.startswith("def f"))
    file_lines = carried.split("\n")
    assert tactic + planned.line_shift == file_lines.index("  rfl") + 1
    assert def_line + planned.line_shift + planned.reference_lines == (
        next(i for i, t in enumerate(file_lines, 1) if t.startswith("def f"))
    )


def test_rules_version_is_a_string() -> None:
    assert isinstance(RULES_VERSION, str) and RULES_VERSION


# -- axioms reports: every legal Lean name ------------------------------------------------


def info(data: str) -> Message:
    return Message.model_validate(
        {"severity": "info", "pos": {"line": 1, "column": 0}, "data": data}
    )


@pytest.mark.parametrize(
    ("name", "printed", "axioms"),
    [
        ("foo'", "'foo'' depends on axioms: [propext]", ["propext"]),
        ("foo''", "'foo''' does not depend on any axioms", []),
        (
            "«my thm»",
            "'«my thm»' depends on axioms: [propext, Classical.choice]",
            ["propext", "Classical.choice"],
        ),
        (
            "A.B.c",
            "'A.B.c' depends on axioms: [propext,\n Classical.choice,\n Quot.sound]",
            ["propext", "Classical.choice", "Quot.sound"],
        ),
        (
            "t",
            "'t' depends on axioms: [propext, Classical.choice,\nQuot.sound]",
            ["propext", "Classical.choice", "Quot.sound"],
        ),
        ("t", "'_private.0.t' depends on axioms: [propext]", ["propext"]),
        ("t", "'_private.Mathlib.Foo.0.t' does not depend on any axioms", []),
        ("t", "'t' depends on axioms: [«weird, axiom»]", ["«weird, axiom»"]),
    ],
)
def test_axioms_report_parses_every_legal_name(name: str, printed: str, axioms: list[str]) -> None:
    assert axioms_report(name, [info(printed)]) == axioms


@pytest.mark.parametrize(
    ("printed", "why"),
    [
        ("'t2' depends on axioms: [propext]", "names t2"),
        ("'t' depends on axioms: [propext, ⋯]", "truncated"),
        ("some other message", "no axioms report"),
    ],
)
def test_axioms_report_fails_closed(printed: str, why: str) -> None:
    result = axioms_report("t", [info(printed)])
    assert isinstance(result, str) and why in result


def test_two_answers_at_the_axioms_line_fail_closed() -> None:
    both = [info("'t' does not depend on any axioms"), info("'t' depends on axioms: [sorryAx]")]
    assert "several" in str(axioms_report("t", both))


def test_the_proof_may_not_borrow_the_statements_sorried_copy() -> None:
    # the reference theorem is declared (with sorry) before the proof in the same command
    attack = HEADER + (
        f"theorem t1 (x : ℝ) (h : x = 2) : x + x = 4 := by\n  exact _root_.{REFERENCE_NAME} x h\n"
    )
    assert "mentions stepprover_reference_statement" in str(plan(attack, STATEMENT))
    honest = HEADER + (
        "theorem reference_statement (x : ℝ) (h : x = 2) : x + x = 4 := by linarith\n"
        "theorem t1 (x : ℝ) (h : x = 2) : x + x = 4 := reference_statement x h\n"
    )
    assert isinstance(plan(honest, STATEMENT), Plan)


def test_imports_must_be_plain_module_names() -> None:
    # Lean maps `«..».«..».tmp.evil` to the file ../../tmp/evil.olean: one a sketch could write
    attack = "import «..».«..».tmp.evil\n" + proof("linarith").split("\n", 1)[1]
    assert "not a plain module name" in str(plan(attack, None))
    assert isinstance(plan(proof("linarith"), None), Plan)
    assert isinstance(
        plan("import Mathlib.Tactic.Linarith\n" + proof("linarith").split("\n", 1)[1], None), Plan
    )


# -- published proofs (tests/data/published-proofs, provenance there) ----------------------

PUBLISHED = Path(__file__).resolve().parent.parent / "data" / "published-proofs"


@pytest.mark.parametrize("path", sorted(PUBLISHED.glob("*.lean")), ids=lambda p: p.stem)
def test_published_proofs_reach_lean_unless_they_hold_meta_code(path: Path) -> None:
    problems = {p.name: p for p in load_jsonl(bundled_path("minif2f"))}
    problem = problems[path.stem.split("__")[1]]
    planned = plan(path.read_text(encoding="utf-8"), problem.statement_text)
    if path.name.startswith("bfs-prover-v2-planner"):  # defines an elab and a macro
        assert "defines a custom elaborator" in str(planned)
    else:
        assert isinstance(planned, Plan), planned
        assert planned.imports == "import Mathlib\nimport Aesop"  # the header's environment


def test_the_published_proofs_benchmark_quick_mode_refuses_only_by_policy() -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "prefilter_published.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "refused by policy {'meta code': 1}, refused by no policy 0" in done.stdout


def test_judging_a_proof_that_carries_the_statements_preamble() -> None:
    carried = DEF_STATEMENT + "  rfl\n"
    planned = plan(carried, DEF_STATEMENT)
    assert isinstance(planned, Plan)
    lines = planned.command.split("\n")
    def_line = next(i for i, t in enumerate(lines, 1) if t.startswith("def f"))
    ref_line = next(i for i, t in enumerate(lines, 1) if REFERENCE_NAME in t)
    tactic = lines.index("  rfl") + 1
    axioms = planned.probe_line + 1

    def reply(*messages: dict[str, Any]) -> Any:
        return reply_from_json({"env": 1, "messages": list(messages)})

    file_def_line = carried.split("\n").index("def f (n : ℕ) : ℕ := n + 1") + 1
    broken_def = judge(reply(msg("error", def_line, "bad def")), planned)
    assert broken_def.outcome is Outcome.LEAN_ERROR
    assert broken_def.messages[0].pos.line == file_def_line
    broken_ref = judge(reply(msg("error", ref_line, "unknown identifier")), planned)
    assert broken_ref.outcome is Outcome.REJECTED and "does not elaborate" in broken_ref.reason
    ok = judge(
        reply(
            msg("warning", ref_line, "declaration uses 'sorry'"),
            msg("info", axioms, "'t1' does not depend on any axioms"),
        ),
        planned,
    )
    assert ok.outcome is Outcome.PROVED, ok.reason
    wrong = judge(reply(msg("warning", tactic, "declaration uses 'sorry'")), planned)
    assert wrong.outcome is Outcome.SORRY


def test_the_reference_copy_gets_a_fresh_name_for_each_check() -> None:
    first, second = planned(proof("nlinarith"), STATEMENT), planned(proof("nlinarith"), STATEMENT)
    assert first.reference_name != second.reference_name
    assert first.reference_name in first.command and second.reference_name not in first.command


@pytest.mark.parametrize(
    "mention",
    [
        "  -- stepprover_reference_statement_0123456789abcdef\n",
        '  have : "stepprover_reference_statement" = "" := sorry\n',
        "  /- «stepprover_reference_statement_x» -/\n",
    ],
)
def test_any_mention_of_the_reference_prefix_is_refused(mention: str) -> None:
    # a comment or a string in one reading may be code in another: refused wherever it is
    code = HEADER + "theorem t1 (x : ℝ) (h : x = 2) : x + x = 4 := by\n" + mention + "  linarith\n"
    assert "mentions stepprover_reference_statement" in str(plan(code, STATEMENT))


async def test_reading_out_of_time_is_a_refusal_of_its_own(verifier: LeanVerifier) -> None:
    slow = LeanVerifier(verifier.pool, VerifyConfig(timeout=2.0, prefilter_timeout=0.0))
    code = HEADER + "theorem t1 (x : ℝ) (h : x = 2) : x + x = 4 := by\n" + "  skip\n" * 3000
    verdict = await slow.check(code, statement=STATEMENT)
    assert verdict.outcome is Outcome.REJECTED and verdict.reply is None
    assert "`time limit`" in verdict.reason


async def test_the_reading_runs_off_the_event_loop() -> None:
    # a long text: while it is read, other tasks of the loop keep running
    code = HEADER + "theorem t1 (x : ℝ) (h : x = 2) : x + x = 4 := by\n" + "  skip\n" * 20_000
    reading = asyncio.ensure_future(plan_off_loop(code, None, VerifyConfig()))
    ticks = 0
    while not reading.done():
        await asyncio.sleep(0)
        ticks += 1
    assert isinstance(await reading, Plan) and ticks > 1


async def test_an_overlong_proof_is_rejected_with_rule_and_line(verifier: LeanVerifier) -> None:
    code = HEADER + "theorem t1 (x : ℝ) (h : x = 2) : x + x = 4 := by\n  " + "skip; " * 60_000
    verdict = await verifier.check(code, statement=STATEMENT)
    assert verdict.outcome is Outcome.REJECTED and verdict.reply is None
    assert verdict.reason.startswith("line 9: `too many tokens`")
