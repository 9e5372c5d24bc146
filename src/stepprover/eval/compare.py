"""`stepprover compare RUN_A RUN_B`: the paired difference in pass@1 of two runs.

Both runs must cover the same problems (``intersect`` compares the shared ones and names
them) and be complete (``allow_incomplete`` compares finished samples, labelled);
differences in settings are reported, not refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from stepprover.data.problems import benchmark_description
from stepprover.errors import RunsNotComparable
from stepprover.eval.metrics import Estimate, paired_difference, pass1
from stepprover.eval.store import RunConfig
from stepprover.eval.summary import incomplete_line, summarize_folder


@dataclass(frozen=True)
class Comparison:
    run_a: Path
    run_b: Path
    shared: list[str]
    only_a: list[str]
    only_b: list[str]
    pass1_a: Estimate
    pass1_b: Estimate
    difference: Estimate
    """pass@1(A) - pass@1(B) over ``shared``, 95% paired bootstrap interval over problems."""
    solved_only_a: list[str]
    """Problems some sample of A solved and no sample of B."""
    solved_only_b: list[str]
    settings: list[str]
    """``key: A …, B …`` for every setting that differs."""
    judged_differently: list[str]
    """Why the two runs' verdicts are not judged alike (other verification rules or another
    Lean toolchain): empty when they are."""
    incomplete: list[str]
    """Why a run is incomplete (empty when both are complete)."""
    benchmarks: tuple[str, str] = ("", "")
    """Each run's benchmark: its name, and for a bundled one its toolchain and answer track."""


def compare_runs(
    run_a: Path | str, run_b: Path | str, *, intersect: bool = False, allow_incomplete: bool = False
) -> Comparison:
    a, b = summarize_folder(Path(run_a)), summarize_folder(Path(run_b))
    set_a, set_b = set(a.problems), set(b.problems)
    only_a, only_b = sorted(set_a - set_b), sorted(set_b - set_a)
    if (only_a or only_b) and not intersect:
        raise RunsNotComparable(
            f"the runs cover different problems: {len(only_a)} only in {run_a} "
            f"({_some(only_a)}), {len(only_b)} only in {run_b} ({_some(only_b)}). "
            "Pass --intersect to compare the shared ones."
        )
    incomplete = [
        f"{run}: {incomplete_line(s)}" for run, s in ((run_a, a), (run_b, b)) if not s.complete
    ]
    if incomplete and not allow_incomplete:
        raise RunsNotComparable(
            " ".join(incomplete) + " (--allow-incomplete compares finished samples)"
        )
    shared = [p for p in a.problems if p in set_b]
    if not shared:
        raise RunsNotComparable("the runs share no problem")
    counts_a = {p: a.counts[p] for p in shared}
    counts_b = {p: b.counts[p] for p in shared}
    return Comparison(
        run_a=Path(run_a),
        run_b=Path(run_b),
        shared=shared,
        only_a=only_a,
        only_b=only_b,
        pass1_a=pass1(counts_a),
        pass1_b=pass1(counts_b),
        difference=paired_difference(counts_a, counts_b),
        solved_only_a=[p for p in shared if counts_a[p][1] and not counts_b[p][1]],
        solved_only_b=[p for p in shared if counts_b[p][1] and not counts_a[p][1]],
        settings=settings_differences(a.config, b.config),
        judged_differently=judged_differently(a.config, b.config),
        incomplete=incomplete,
        benchmarks=(_benchmark(a.config), _benchmark(b.config)),
    )


def _benchmark(config: RunConfig) -> str:
    return benchmark_description(config.dataset) or config.dataset


def judged_differently(a: RunConfig, b: RunConfig) -> list[str]:
    """Lines naming what makes the two runs' verdicts differ in kind: the verification rules
    (``RULES_VERSION``; a run that did not record them counts as different) and the Lean
    toolchain the proofs were checked with."""
    lines = []
    if a.rules_version is None or b.rules_version is None or a.rules_version != b.rules_version:
        lines.append(
            f"verification rules differ: A {a.rules_version or 'not recorded'}, "
            f"B {b.rules_version or 'not recorded'} (`stepprover eval --rejudge RUN --run-dir NEW` "
            "re-verifies a run's final proofs under the current rules)"
        )
    if a.lean != b.lean:
        lines.append(f"Lean toolchains differ: A {a.lean}, B {b.lean}")
    return lines


def settings_differences(a: RunConfig, b: RunConfig) -> list[str]:
    """One line per differing setting (nested sampling and budget keys spelled out)."""
    flat_a, flat_b = _flat(a.model_dump(mode="json")), _flat(b.model_dump(mode="json"))
    return [
        f"{key}: A {json.dumps(flat_a.get(key))}, B {json.dumps(flat_b.get(key))}"
        for key in sorted(flat_a.keys() | flat_b.keys())
        if flat_a.get(key) != flat_b.get(key)
    ]


def to_markdown(c: Comparison) -> str:
    label = " (INCOMPLETE: finished samples only)" if c.incomplete else ""
    lines = [
        f"# Comparison: {c.run_a} (A) vs {c.run_b} (B)",
        "",
        f"Over {len(c.shared)} problems{label}.",
        "",
        *(
            ["**Judged differently** (the difference mixes the verifiers' with the models'):", ""]
            + [f"- {line}" for line in c.judged_differently]
            + [""]
            if c.judged_differently
            else []
        ),
        "| run | pass@1 |",
        "| --- | --- |",
        f"| A {c.run_a} | {c.pass1_a} |",
        f"| B {c.run_b} | {c.pass1_b} |",
        f"| **A - B** (paired bootstrap, 95%) | **{_signed(c.difference)}** |",
        "",
        f"Benchmark of A: {c.benchmarks[0]}",
        "",
        f"Benchmark of B: {c.benchmarks[1]}",
        "",
    ]
    lines += [f"- {line}" for line in c.incomplete]
    if c.only_a or c.only_b:
        lines += [
            f"Compared on the {len(c.shared)} shared problems only (--intersect): "
            + ", ".join(c.shared),
            "",
            f"Only in A ({len(c.only_a)}): {', '.join(c.only_a) or '-'}",
            "",
            f"Only in B ({len(c.only_b)}): {', '.join(c.only_b) or '-'}",
            "",
        ]
    lines += [
        f"## Solved by A, not by B ({len(c.solved_only_a)})",
        "",
        ", ".join(c.solved_only_a) or "-",
        "",
        f"## Solved by B, not by A ({len(c.solved_only_b)})",
        "",
        ", ".join(c.solved_only_b) or "-",
        "",
        "## Settings that differ",
        "",
    ]
    lines += [f"- {line}" for line in c.settings] or ["None."]
    return "\n".join(lines) + "\n"


def _flat(data: dict[str, object], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def _signed(e: Estimate) -> str:
    return f"{100 * e.value:+.1f} points [{100 * e.low:+.1f}, {100 * e.high:+.1f}]"


def _some(names: list[str], shown: int = 5) -> str:
    return (
        ", ".join(names[:shown]) + (f", … {len(names) - shown} more" if len(names) > shown else "")
        or "-"
    )
