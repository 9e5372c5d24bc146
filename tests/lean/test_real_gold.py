"""The gold check with the real comparator, lean4export, landrun, Lean and Mathlib.
Skipped unless `stepprover lean doctor --with-comparator` is green. Run with ``-s`` to
see the cost of one check (seconds, peak memory of comparator's process tree)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepprover.lean.gold import GoldChecker, GoldConfig, GoldTools, GoldVerdict
from stepprover.lean.toolchain import LeanSetup, gold_doctor
from stepprover.lean.verify import Outcome

pytestmark = [pytest.mark.lean, pytest.mark.slow]
EXAMPLES = Path(__file__).parents[2] / "examples"
STATEMENT = (EXAMPLES / "mathd_algebra_10.statement.lean").read_text()
PROOF = (EXAMPLES / "mathd_algebra_10.lean").read_text()


@pytest.fixture
def checker() -> GoldChecker:
    setup = LeanSetup()
    missing = [
        c.name
        for c in gold_doctor(setup)
        if not c.ok and c.name != "unprivileged user (for comparator)"
    ]
    if missing:
        pytest.skip("gold check not installed: " + "; ".join(missing))
    return GoldChecker(GoldTools.from_setup(setup), config=GoldConfig(timeout=1800))


def cost(label: str, verdict: GoldVerdict, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(
            f"\ngold check ({label}): {verdict.outcome.value} in {verdict.elapsed:.1f} s, "
            f"peak RSS of comparator's process tree {verdict.peak_rss_mb:.0f} MB"
        )


@pytest.mark.timeout(3600)
def test_real_proof_is_proved_and_the_cost_is_printed(
    checker: GoldChecker, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    first = asyncio.run(checker.check(STATEMENT, PROOF))
    cost("first, builds the challenge", first, capsys)
    assert first.outcome is Outcome.PROVED, first.reason + "\n" + first.output_tail
    again = asyncio.run(checker.check(STATEMENT, PROOF + "\n-- another text\n"))
    cost("next, only the solution is built", again, capsys)
    assert again.outcome is Outcome.PROVED, again.reason + "\n" + again.output_tail


@pytest.mark.timeout(3600)
@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        # a false statement: norm_num fails, the solution does not build (comparator's lake
        # build in the solution stage), which is reported before any comparison
        ("abs ((120 : ℝ)", "abs ((121 : ℝ)", "does not build"),
        # a true statement of another theorem under the same name: built, then compared
        (
            "abs ((120 : ℝ) / 100 * 30 - 130 / 100 * 20) = 10 := by\n  norm_num [abs_of_nonneg]",
            "(2 : ℕ) + 2 = 4 := by\n  norm_num",
            "do not match",
        ),
        ("norm_num [abs_of_nonneg]", "sorry", "sorryAx"),
        ("norm_num [abs_of_nonneg]", "norm_num [abs_of_nonneg]\n  exact absurd rfl foo", ""),
    ],
)
def test_real_refusals(checker: GoldChecker, old: str, new: str, reason: str) -> None:
    import asyncio

    verdict = asyncio.run(checker.check(STATEMENT, PROOF.replace(old, new)))
    assert verdict.outcome is Outcome.REJECTED, verdict.reason + "\n" + verdict.output_tail
    assert reason in verdict.reason


@pytest.mark.timeout(3600)
def test_a_theorem_named_in_guillemets_is_checked(checker: GoldChecker) -> None:
    """Settles that the name handed to comparator (components joined by dots, no
    guillemets: its config is read with ``String.toName``) finds the theorem."""
    import asyncio

    header = STATEMENT.split("theorem")[0]
    statement = header + "theorem «my theorem» : (2 : ℕ) + 2 = 4 := by\n"
    verdict = asyncio.run(checker.check(statement, statement + "  norm_num\n"))
    assert verdict.outcome is Outcome.PROVED, verdict.reason + "\n" + verdict.output_tail
