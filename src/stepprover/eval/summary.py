"""What a run's numbers mean: whether it is complete, its headline pass@1, pass@1 over
the statements not known to be defective, and proofs of statements known to be false.

``stepprover eval`` and ``stepprover report`` print the same lines from here, so a run
with retryable or missing samples never shows a headline pass@1 as if it were a result.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from stepprover.data.defects import Defect, DefectList, defects_for
from stepprover.eval.corrections import fold_corrections
from stepprover.eval.metrics import Estimate, pass1, solve_counts
from stepprover.eval.store import RunConfig, RunStore
from stepprover.provers.styles import CorrectionTree


@dataclass(frozen=True)
class RunSummary:
    config: RunConfig
    problems: list[str]
    counts: dict[str, tuple[int, int]]
    """(finished samples, solved) per problem."""
    retryable: dict[tuple[str, int], str]
    """Samples an outage cut short, with the error."""
    failed_preflight: dict[str, str]
    """Statements Lean rejected (they count as unsolved)."""
    defects: DefectList | None

    @property
    def pending(self) -> int:
        """Samples neither finished nor retryable, of statements not rejected by Lean."""
        retry = Counter(p for p, _ in self.retryable)
        return sum(
            max(0, self.config.samples - self.counts[p][0] - retry[p])
            for p in self.problems
            if p not in self.failed_preflight
        )

    @property
    def complete(self) -> bool:
        return not self.retryable and self.pending == 0

    def scored_counts(self) -> dict[str, tuple[int, int]]:
        """``counts`` with each statement Lean rejected as ``samples`` unsolved samples, as
        the headline counts it: what pass@k over every problem is computed from."""
        return {
            p: (self.config.samples, 0) if p in self.failed_preflight else c
            for p, c in self.counts.items()
        }

    def headline(self) -> Estimate:
        """pass@1 over every problem (comparable with papers)."""
        return pass1(self.counts)

    def known_defective(self) -> dict[str, Defect]:
        if self.defects is None:
            return {}
        return {n: d for n, d in self.defects.by_name().items() if n in self.counts}

    def sound_pass1(self) -> Estimate | None:
        """pass@1 over the problems not known to be defective (None: no list applies)."""
        if self.defects is None:
            return None
        bad = self.known_defective()
        return pass1({p: c for p, c in self.counts.items() if p not in bad})

    def false_statements_proved(self) -> list[tuple[Defect, int]]:
        """Statements known to be false that some sample proved, with how many samples:
        a verifier or statement problem, never a success."""
        return [
            (d, self.counts[n][1])
            for n, d in self.known_defective().items()
            if d.kind == "false" and self.counts[n][1] > 0
        ]


def summarize(store: RunStore, config: RunConfig) -> RunSummary:
    problems = store.problems() or sorted({r.problem for r in store.results()})
    return RunSummary(
        config=config,
        problems=problems,
        # A correction tree's samples count through their root (eval/corrections.py).
        counts=solve_counts(
            fold_corrections(
                store.results(), config.samples, CorrectionTree.from_budgets(config.budgets)
            ),
            problems,
        ),
        retryable=store.retryable(),
        failed_preflight={p: r for p, (ok, r) in store.preflight().items() if not ok},
        defects=defects_for(config.dataset_sha256),
    )


def summarize_folder(folder: Path) -> RunSummary:
    """The summary of the run stored in ``folder``."""
    store = RunStore.reopen(folder)
    try:
        return summarize(store, RunStore.read_config(folder))
    finally:
        store.close()


def incomplete_line(summary: RunSummary) -> str:
    """Why the run has no headline yet, and how to finish it."""
    parts = []
    if summary.retryable:
        errors = Counter(summary.retryable.values()).most_common()
        shown = "; ".join(f"{n} x {error or 'no error recorded'}" for error, n in errors[:3])
        more = f"; and {len(errors) - 3} other errors" if len(errors) > 3 else ""
        parts.append(
            f"{len(summary.retryable)} samples retryable after outages, no results "
            f"({shown}{more}; each in report.md)"
        )
    if summary.pending:
        parts.append(f"{summary.pending} samples not run")
    return (
        "the run is incomplete: "
        + "; ".join(parts)
        + ". Rerun the same `stepprover eval` command to finish it."
    )


def result_lines(summary: RunSummary, *, allow_incomplete: bool = False) -> list[str]:
    """The headline pass@1 and, beside it, the soundness lines (plain text)."""
    n_problems, samples = len(summary.problems), summary.config.samples
    lines: list[str] = []
    if not summary.complete:
        lines.append(incomplete_line(summary))
        if not allow_incomplete:
            lines.append(
                "no pass@1 is reported for an incomplete run "
                "(`stepprover report --allow-incomplete` shows it, labelled)"
            )
            return lines
        if not any(n for n, _ in summary.counts.values()):
            lines.append("no sample has finished yet, so there is no pass@1 to show")
            return lines
    label = "" if summary.complete else "INCOMPLETE RUN, unfinished samples left out: "
    lines.append(
        f"{label}pass@1 (mean of {samples} samples, over all {n_problems} problems): "
        f"{summary.headline()}"
    )
    sound = summary.sound_pass1()
    if sound is not None and summary.defects is not None:
        bad = summary.known_defective()
        lines.append(
            f"{label}pass@1 over the {n_problems - len(bad)} statements not known to be "
            f"defective ({summary.defects.summary(bad)} left out, see "
            f"{summary.defects.benchmark}.defects.yaml): {sound}"
        )
    for defect, solved in summary.false_statements_proved():
        lines.append(
            f"VERIFIER OR STATEMENT PROBLEM: {solved} samples proved {defect.name}, which is "
            f"known to be false ({defect.reason}; {defect.source})"
        )
    return lines
