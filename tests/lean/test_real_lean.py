"""The same checks against real Lean + Mathlib. Skipped unless `stepprover lean doctor` is green."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from stepprover.lean.pool import PoolConfig, ReplPool
from stepprover.lean.protocol import CommandReply, CommandRequest
from stepprover.lean.toolchain import LeanSetup
from stepprover.lean.verify import LeanVerifier, Outcome, VerifyConfig

pytestmark = [pytest.mark.lean, pytest.mark.asyncio(loop_scope="module")]
EXAMPLES = Path(__file__).parents[2] / "examples"
STATEMENT = (EXAMPLES / "mathd_algebra_10.statement.lean").read_text()
PROOF = (EXAMPLES / "mathd_algebra_10.lean").read_text()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def verifier() -> AsyncIterator[LeanVerifier]:
    config = PoolConfig(process=LeanSetup().process_config(), workers=1, warmup_timeout=600)
    async with ReplPool(config) as pool:
        yield LeanVerifier(pool, VerifyConfig(timeout=300))


async def test_real_proof_is_proved(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(PROOF, statement=STATEMENT)
    assert verdict.outcome is Outcome.PROVED, verdict.reason


@pytest.mark.parametrize(
    ("change", "outcome"),
    [
        (("norm_num [abs_of_nonneg]", "sorry"), Outcome.SORRY),
        (("norm_num [abs_of_nonneg]", "linarith [foo]"), Outcome.LEAN_ERROR),
        (("norm_num [abs_of_nonneg]", "native_decide"), None),
        # the changed statement is false, so `norm_num` fails inside the proof: Lean's error is
        # in the proof's own lines (lean_error) before any comparison with the statement
        (
            (
                "theorem mathd_algebra_10 : abs ((120 : ℝ)",
                "theorem mathd_algebra_10 : abs ((121 : ℝ)",
            ),
            Outcome.LEAN_ERROR,
        ),
    ],
)
async def test_real_failures(
    verifier: LeanVerifier, change: tuple[str, str], outcome: Outcome | None
) -> None:
    verdict = await verifier.check(PROOF.replace(*change), statement=STATEMENT)
    assert not verdict.proved
    if outcome is not None:
        assert verdict.outcome is outcome, verdict.reason


async def test_redefined_notation_cannot_change_the_statement(verifier: LeanVerifier) -> None:
    cheat = PROOF.replace(
        "theorem mathd_algebra_10",
        "local instance : OfNat ℝ 10 := ⟨(2 : ℝ)⟩\ntheorem mathd_algebra_10",
    )
    verdict = await verifier.check(cheat, statement=STATEMENT)
    assert verdict.outcome is not Outcome.PROVED


async def test_env_zero_holds_mathlib() -> None:
    config = PoolConfig(process=LeanSetup().process_config(), workers=1, warmup_timeout=600)
    async with ReplPool(config) as pool:
        reply = await pool.run("import Mathlib", CommandRequest(cmd="#check Real.sqrt"), 120)
        assert isinstance(reply, CommandReply)
        assert not [m for m in reply.messages if m.severity == "error"]


HEADER = (
    "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\n"
    "open BigOperators Real Nat Topology Rat\n\n"
)


@pytest.mark.parametrize(
    "proof",
    [
        "theorem foo' : (2 : ℕ) + 2 = 4 := by norm_num",
        "theorem «my theorem» : (2 : ℕ) + 2 = 4 := by norm_num",
        "private theorem hidden : (2 : ℕ) + 2 = 4 := by norm_num",
        "namespace A.B\ntheorem c : (2 : ℕ) + 2 = 4 := by norm_num\nend A.B",
        "theorem uses_choice (p : Prop) : p ∨ ¬p := Classical.em p",
    ],
)
async def test_axioms_reports_of_every_kind_of_name_are_read(
    verifier: LeanVerifier, proof: str
) -> None:
    # `#print axioms _root_.NAME` resolves primes, guillemets, private and namespaced names,
    # and its answer (private names printed mangled) is parsed
    verdict = await verifier.check(HEADER + proof + "\n")
    assert verdict.outcome is Outcome.PROVED, verdict.reason
    assert verdict.axioms is not None


async def test_parse_error_running_into_the_checks_is_a_lean_error(verifier: LeanVerifier) -> None:
    verdict = await verifier.check(
        PROOF.replace("norm_num [abs_of_nonneg]", "have h : 1 = 1 :="), statement=STATEMENT
    )
    assert verdict.outcome is Outcome.LEAN_ERROR, verdict.reason


async def test_statement_comparison_is_alpha_equivalence(verifier: LeanVerifier) -> None:
    statement = HEADER + "theorem t (x : ℝ) (h₀ : x / 50 = 40) : x = 2000 := by\n"
    renamed = HEADER + "lemma t (y : ℝ) (hy : y / 50 = 40) : y = 2000 := by\n  linarith\n"
    changed = (
        HEADER + "theorem t (x : ℝ) (h₀ : x / 50 = 40) : x = 2000 ∨ x = 0 := by\n  left; linarith\n"
    )
    assert (await verifier.check(renamed, statement=statement)).proved
    verdict = await verifier.check(changed, statement=statement)
    assert (
        verdict.outcome is Outcome.REJECTED
        and "does not prove the given statement" in verdict.reason
    )


UNIVERSE_CASES = [
    # (statement, proof body, proved?)
    (
        "theorem u1 {α : Type*} [CommMonoid α] (a b : α) : a * b = b * a",
        "exact mul_comm a b",
        True,
    ),
    ("theorem u2 {α : Sort u} (a : α) : id a = a", "rfl", True),  # auto-bound universe
    ("theorem u3 {α : Sort _} (a : α) : id a = a", "rfl", True),  # a universe metavariable
]


@pytest.mark.parametrize(("statement", "body", "proved"), UNIVERSE_CASES)
async def test_universe_polymorphic_statements_are_compared(
    verifier: LeanVerifier, statement: str, body: str, proved: bool
) -> None:
    """Settles that the statement check accepts a universe-polymorphic theorem proved as
    stated (``#guard_expr … =ₐ …`` compared fresh universe metavariables and refused it),
    and that the one-line ``#eval`` of ``verify.statement_check`` elaborates at all."""
    given = HEADER + statement + " := by\n"
    verdict = await verifier.check(given + f"  {body}\n", statement=given)
    assert verdict.proved is proved, verdict.reason


async def test_a_less_general_theorem_does_not_prove_a_polymorphic_statement(
    verifier: LeanVerifier,
) -> None:
    """Settles that instantiating the universes by position does not let a monomorphic
    theorem (``Type``) pass for a universe-polymorphic statement (``Type*``)."""
    statement = HEADER + "theorem u4 {α : Type*} [CommMonoid α] (a b : α) : a * b = b * a"
    statement += " := by\n"
    special = statement.replace("Type*", "Type") + "  exact mul_comm a b\n"
    verdict = await verifier.check(special, statement=statement)
    assert verdict.outcome is Outcome.REJECTED, verdict.reason
    assert "does not prove the given statement" in verdict.reason
