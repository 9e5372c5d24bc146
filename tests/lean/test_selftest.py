"""The shipped self-test suite: its dry run here, its real run on Lean (`lean` mark)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from stepprover.cli import app
from stepprover.lean import selftest
from stepprover.lean.selftest_cases import CASES, EXPLOITS, HONEST, Case
from stepprover.lean.verify import Outcome, Verdict

runner = CliRunner()
# Every kind of exploit integrity list (docs/integrity.md) names.
KINDS = {
    "sorry",
    "axiom",
    "native_decide",
    "kernel-skipping option",
    "message-hiding option",
    "printing option",
    "message-adding option",
    "attribute-registered elaborator",
    "norm_num/positivity/simproc extension",
    "meta keyword",
    "notation/instance redefinition",
    "statement change",
    "namespace/name trick",
    "probe spoofing",
    "output truncation",
    "lexer desync",
    "overlong input",
}


def test_the_suite_is_large_enough_and_covers_every_kind() -> None:
    assert len(HONEST) >= 25 and len(EXPLOITS) >= 25
    assert {c.kind for c in EXPLOITS} == KINDS
    assert len({c.name for c in CASES}) == len(CASES)


def test_the_suite_holds_a_case_for_the_header_the_options_and_the_derived_lists() -> None:
    names = {c.name for c in CASES}
    assert {
        "imports_only_mathlib_under_an_aesop_header",
        "two_imports_on_one_line_reordered",
        "tactic_hygienic_false",
        "pp_numeric_types",
        "linter_option_in",
        "print_axioms_at_the_end",
        "statement_with_a_def_carried_by_the_proof",
        "statement_with_a_def_not_repeated",
    } <= {c.name for c in HONEST}
    assert {
        "run_conv",
        "eval_percent",
        "with_weak_namespace_mid_line",
        "deprecate_mid_line",
        "unsuppress_compilation_mid_line",
        "show_panel_widgets_mid_line",
        "open_root_mathlib",
        "namespace_root_lean",
        "open_guillemet_root_mathlib",
        "import_two_modules_one_import",
        "import_runtime",
        "import_beyond_the_header",
        "a_def_of_its_own_beside_the_statements",
    } <= names


def test_the_suite_has_the_token_desync_reference_name_and_bound_cases() -> None:
    names = {c.name for c in EXPLOITS}
    assert {
        "token_desync_times_prime",
        "quote_after_unknown_symbol",
        "comment_after_unknown_symbol",
        "reference_name_in_comment",
        "overlong_token_count",
        "overlong_identifier",
    } <= names
    reasons = {r.case.name: r.reason for r in selftest.dry_run(EXPLOITS)}
    assert "`ambiguous opener`" in reasons["quote_after_unknown_symbol"]
    assert "`@[command_elab]`" in reasons["token_desync_times_prime"]
    assert "`too many tokens`" in reasons["overlong_token_count"]


def test_dry_run_refuses_no_honest_proof_and_stops_each_exploit_where_expected() -> None:
    results = selftest.dry_run()
    wrong = [(r.case.name, r.reason) for r in results if r.misclassified]
    assert wrong == []
    assert not any(r.stopped_before_lean for r in results if r.case.honest)


def test_dry_run_notices_a_misclassification() -> None:
    # an honest-looking proof that the prefilter refuses, and an exploit expected before Lean
    # that reaches it: both must count as misclassified
    bad_honest = Case("x", "honest", "set_option pp.all true\ntheorem x : True := trivial\n")
    late = Case("y", "axiom", "theorem y : True := trivial\n", stage="prefilter")
    assert [r.misclassified for r in selftest.dry_run([bad_honest, late])] == [True, True]


class ProvesEverything:
    """A verifier that answers `proved` whenever Lean would be asked: no integrity at all."""

    async def check(
        self,
        code: str | bytes,
        *,
        statement: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - see SketchRepl
    ) -> Verdict:
        planned = selftest.plan(str(code), statement)
        if isinstance(planned, str):
            return Verdict(outcome=Outcome.REJECTED, reason=planned)
        return Verdict(outcome=Outcome.PROVED, reply={"env": 0})


async def test_a_verifier_without_lean_side_checks_is_caught() -> None:
    results = await selftest.run(ProvesEverything())
    leaked = {r.case.name for r in results if r.misclassified}
    assert leaked == {c.name for c in EXPLOITS if c.stage == "lean"}
    matrix = selftest.confusion_matrix(results)
    assert matrix[0][:2] == [f"honest ({len(HONEST)})", str(len(HONEST))]
    assert matrix[1][1] == str(len(leaked))


def test_cli_dry_run_prints_counts_and_stages() -> None:
    result = runner.invoke(app, ["lean", "selftest", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"{len(CASES)} cases: {len(HONEST)} honest, {len(EXPLOITS)} exploits" in result.output
    assert "0 misclassified" in result.output
    assert (
        "axiom (axiom, expected at prefilter): refused before Lean (line 8: `axiom`"
        in result.output
    )
    assert "native_decide (native_decide, expected at lean): left to Lean" in result.output


@pytest.fixture
def one_wrong_case(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    wrong = Case("wrong", "honest", "#eval 1\ntheorem w : True := trivial\n")
    monkeypatch.setattr(selftest, "CASES", [*CASES, wrong])
    yield


def test_cli_exits_nonzero_on_misclassification(one_wrong_case: None) -> None:
    result = runner.invoke(app, ["lean", "selftest", "--dry-run"])
    assert result.exit_code == 1
    assert "MISCLASSIFIED wrong (honest): refused before Lean" in result.output


@pytest.mark.lean
def test_selftest_with_real_lean() -> None:
    result = runner.invoke(app, ["lean", "selftest", "--verbose"])
    assert result.exit_code == 0, result.output
