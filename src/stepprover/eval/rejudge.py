"""`stepprover eval --rejudge RUN --run-dir NEW`: a stored run's final proofs, judged again.

After a change of the verification rules (``verify.RULES_VERSION``) or of the Lean
toolchain, a stored run's verdicts are the old rules'. Re-judging verifies every final
proof of RUN again, as the run verified it (the proof file, against the problem's
statement), and writes the samples with their new verdicts into a new run folder, which
records the current rules, the Lean it used and the run it came from. RUN is only read.
The new folder is resumable: a rerun re-judges only the samples it does not hold yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stepprover.agent.trajectory import Trajectory
from stepprover.data.problems import Problem
from stepprover.errors import DataError
from stepprover.eval.store import RunConfig, RunStore
from stepprover.lean.source import split_imports
from stepprover.lean.verify import RULES_VERSION, Verifier


def rejudged_config(old: RunConfig, old_folder: Path, lean: str) -> RunConfig:
    """The new run's record: the old settings, the current rules, the Lean now used."""
    return old.model_copy(
        update={
            "rules_version": RULES_VERSION,
            "lean": lean,
            "rejudged_from": str(old_folder.resolve()),
        }
    )


def proof_file(trajectory: Trajectory, problem: Problem) -> str:
    """The file the run verified: a whole-proof baseline stored it whole (with its imports);
    the agent loop stored the proof body, verified under the problem's header."""
    proof = trajectory.final_proof or ""
    return proof if split_imports(proof).modules else problem.with_proof(proof)


@dataclass
class Rejudged:
    """What a re-judging did."""

    checked: int = 0
    """Final proofs verified again."""
    copied: int = 0
    """Samples without a final proof, copied as they were (nothing to judge)."""
    already: int = 0
    """Samples the new folder held already (a resumed re-judging)."""
    outages: int = 0
    """Samples an outage cut short in the old run: not results, not copied."""
    changed: list[str] = field(default_factory=list)
    """``problem#index: old -> new`` for every verdict that changed."""


async def rejudge(
    old: RunStore,
    new: RunStore,
    problems: dict[str, Problem],
    verifier: Verifier,
    *,
    final_timeout: float | None = None,
    on_sample: Callable[[Trajectory], None] | None = None,
) -> Rejudged:
    """Verify ``old``'s final proofs again with ``verifier`` and store them in ``new``.

    Raises:
        DataError: a stored sample's problem is not in ``problems`` (another dataset).
        LeanUnavailable: Lean could not be used (what was stored is kept; rerun to resume).
    """
    result = Rejudged()
    new.record_problems(old.problems())
    for name, (ok, reason) in old.preflight().items():
        new.record_preflight(name, ok, reason)
    done = new.done()
    for trajectory in old.trajectories():
        key = (trajectory.problem, trajectory.sample_index)
        if trajectory.retryable:
            result.outages += 1
            continue
        if key in done:
            result.already += 1
            continue
        if trajectory.final_proof is None:
            result.copied += 1
            new.add(trajectory)
            continue
        problem = problems.get(trajectory.problem)
        if problem is None:
            raise DataError(
                f"the run's problem {trajectory.problem} is not in its dataset any more"
            )
        before = trajectory.verdict.outcome.value if trajectory.verdict else "no verdict"
        verdict = await verifier.check(
            proof_file(trajectory, problem),
            statement=problem.verified_statement,
            timeout=final_timeout,
        )
        rejudged = trajectory.model_copy(
            update={
                "verdict": verdict,
                "meta": {
                    **trajectory.meta,
                    "rejudged": {"outcome_before": before, "rules_version": RULES_VERSION},
                },
            }
        )
        new.add(rejudged)
        result.checked += 1
        if verdict.outcome.value != before:
            result.changed.append(
                f"{trajectory.problem}#{trajectory.sample_index}: {before} -> "
                f"{verdict.outcome.value}"
            )
        if on_sample is not None:
            on_sample(rejudged)
    return result
