"""`stepprover report RUN`: Markdown tables laid out like the paper's, PNG plots,
and a static HTML page to read trajectories, filterable by solved/unsolved."""

from __future__ import annotations

import html
import json
from pathlib import Path

from stepprover.agent.display import plural, trajectory_parts
from stepprover.agent.trajectory import Trajectory
from stepprover.data.problems import benchmark_description
from stepprover.eval.corrections import fold_corrections
from stepprover.eval.gold import GoldLedger, gold_lines
from stepprover.eval.metrics import (
    CONTEXT_LENGTHS,
    REPL_CAPS,
    Estimate,
    curve_by_context,
    curve_by_repl_calls,
    mean_pass_at_k,
    solve_rates,
)
from stepprover.eval.store import FinalChecks, RunConfig, RunStore
from stepprover.eval.summary import RunSummary, incomplete_line, summarize
from stepprover.provers.styles import CorrectionTree

# StepFun-Prover-Preview's published results (README / technical report, miniF2F-test).
PAPER_TABLE1 = {
    "DeepSeek-Prover-V2-7B": 58.6,
    "DeepSeek-Prover-V2-671B": 61.9,
    "Kimina-Prover-8B": 61.1,
    "Kimina-Prover-72B": 63.9,
    "StepFun-Prover-Preview-7B": 66.0,
    "StepFun-Prover-Preview-32B": 70.0,
}
PAPER_TABLE2 = {4096: 58.3, 8192: 66.5, 12288: 68.9, 16384: 69.9, 20480: 70.0}
PAPER_SETTINGS = {
    "dataset": "minif2f-test",
    "samples": 32,
    "temperature": 0.999,
    "top_p": 0.95,
    "max_context_tokens": 20480,
    "lean": "Lean v4.20.0-rc5, Mathlib v4.20.0-rc5",
}


def write_report(
    run: Path | str, *, per_problem: int = 2, allow_incomplete: bool = False
) -> list[Path]:
    """Write report.md, two plots and trajectories.html into the run folder.

    While samples are retryable or missing, the report gives no pass@1 unless
    ``allow_incomplete`` (then every number is labelled incomplete).
    """
    folder = Path(run)
    with RunStore.reopen(folder) as store:
        config = RunStore.read_config(folder)
        summary = summarize(store, config)
        problems = summary.problems
        # A correction tree's samples count through their root (eval/corrections.py).
        samples = store.results()
        results = fold_corrections(
            samples, config.samples, CorrectionTree.from_budgets(config.budgets)
        )
        preflight = store.preflight()
        checks = store.final_checks()
        chosen = _pick_trajectories(store, problems, per_problem)
    repl_curve = curve_by_repl_calls(results, problems)
    context_curve = curve_by_context(results, problems)
    plots = [
        _plot(
            folder / "pass1_by_repl_calls.png",
            repl_curve,
            "maximum REPL interactions",
            "pass@1 vs REPL interactions (cf. paper Figure 1)",
            log2=True,
        ),
        _plot(
            folder / "pass1_by_context.png",
            context_curve,
            "maximum context length (tokens)",
            "pass@1 vs context length (cf. paper Table 2)",
            paper=PAPER_TABLE2 if on_paper_dataset(config) else None,
        ),
    ]
    # nothing to show before a first sample finishes, even when incomplete runs are allowed
    shown = (summary.complete or allow_incomplete) and any(n for n, _ in summary.counts.values())
    markdown = _markdown(config, summary, preflight, repl_curve, context_curve, shown, checks)
    if GoldLedger.exists(folder):
        with GoldLedger(folder) as ledger:
            markdown += "\n" + "\n".join(gold_lines(samples, problems, ledger.samples()))
    (folder / "report.md").write_text(markdown, encoding="utf-8")
    (folder / "trajectories.html").write_text(
        _html(config, summary, chosen, shown), encoding="utf-8"
    )
    return [folder / "report.md", *plots, folder / "trajectories.html"]


def on_paper_dataset(config: RunConfig) -> bool:
    """The paper's figures are on miniF2F-test: set beside a run on anything else they mislead."""
    return config.dataset == PAPER_SETTINGS["dataset"]


def settings_warnings(config: RunConfig) -> list[str]:
    """Where this run's settings differ from the paper's."""
    ours = {
        "dataset": config.dataset,
        "samples": config.samples,
        "temperature": config.sampling.get("temperature"),
        "top_p": config.sampling.get("top_p"),
        "max_context_tokens": config.budgets.get("max_context_tokens"),
        "lean": config.lean,
    }
    warnings = []
    for key, paper in PAPER_SETTINGS.items():
        same = str(paper) in str(ours[key]) if key == "lean" else ours[key] == paper
        if not same:
            warnings.append(f"{key}: this run uses {ours[key]!r}, the paper {paper!r}")
    return warnings


def _markdown(
    config: RunConfig,
    summary: RunSummary,
    preflight: dict[str, tuple[bool, str]],
    repl_curve: dict[int, float],
    context_curve: dict[int, float],
    shown: bool,
    checks: FinalChecks,
) -> str:
    problems, counts = summary.problems, summary.counts

    def ours(value: float) -> str:
        return f"{100 * value:.1f}%" if shown else "–"

    headline = _pct(summary.headline()) if shown else "not reported: incomplete run"
    if shown and not summary.complete:
        headline += " (INCOMPLETE RUN)"
    lines = [
        f"# stepprover report: {config.model} on {config.dataset}",
        "",
        *(
            [
                f"**Incomplete run.** {incomplete_line(summary)}"
                + (
                    ""
                    if shown
                    else " No pass@1 is reported until then (`--allow-incomplete` shows it, "
                    "labelled)."
                ),
                "",
            ]
            if not summary.complete
            else []
        ),
        "## Settings",
        "",
        "| setting | value |",
        "| --- | --- |",
        f"| model | {config.model} |",
        f"| dataset | {config.dataset} (sha256 {config.dataset_sha256[:16]}…"
        f", split {config.split}) |",
        *(
            [f"| benchmark | {described} |"]
            if (described := benchmark_description(config.dataset))
            else []
        ),
        f"| problems | {len(problems)} |",
        f"| samples per problem | {config.samples} |",
        f"| sampling | {json.dumps(config.sampling)} |",
        f"| budgets | {json.dumps(config.budgets)} |",
        f"| Lean | {config.lean} |",
        "| verification rules | "
        + (
            config.rules_version
            or "not recorded (a run stored before runs recorded them: judged under older rules)"
        )
        + " |",
        *([f"| re-judged from | {config.rejudged_from} |"] if config.rejudged_from else []),
        f"| prompt style | {config.prompt_style} |",
        "",
    ]
    warnings = settings_warnings(config)
    if warnings:
        lines += ["**Differs from the paper's setup** (numbers are not directly comparable):", ""]
        lines += [f"- {w}" for w in warnings] + [""]
    paper = on_paper_dataset(config)
    lines += [
        "## Table 1: miniF2F-test pass@1" if paper else f"## pass@1 on {config.dataset}",
        "",
        *(["| Model | MiniF2F-test (Pass@1) |", "| --- | --- |",
           *[f"| {name} (paper) | {value:.1f}% |" for name, value in PAPER_TABLE1.items()],
           f"| **{config.model} (this run)** | **{headline}** |"] if paper else
          ["| Model | Pass@1 |", "| --- | --- |", f"| {config.model} (this run) | {headline} |", "",
           (f"The paper's figures are on {PAPER_SETTINGS['dataset']}, so they are not shown "
            "next to this run's.")]),
        "",
        (f"pass@1 is the mean over the {config.samples} samples of each problem, averaged over all "
         f"{len(problems)} problems (95% bootstrap interval over problems)."),
        "",
        *_soundness(summary, shown),
        "## Table 2: pass@1 by maximum context length",
        "",
        "| Maximum generation length | this run |"
        + (" StepFun-Prover-Preview-32B (paper) |" if paper else ""),
        "| --- | --- |" + (" --- |" if paper else ""),
        *[f"| {length} | {ours(context_curve[length])} |"
          + (f" {PAPER_TABLE2.get(length, float('nan')):.1f}% |" if paper else "")
          for length in CONTEXT_LENGTHS],
        "",
        "## pass@1 by maximum REPL interactions (Figure 1)",
        "",
        "| max REPL calls | " + " | ".join(str(k) for k in REPL_CAPS) + " |",
        "| --- |" + " --- |" * len(REPL_CAPS),
        "| pass@1 | " + " | ".join(ours(repl_curve[k]) for k in REPL_CAPS) + " |",
        "",
        "![pass@1 by REPL interactions](pass1_by_repl_calls.png)",
        "![pass@1 by context length](pass1_by_context.png)",
        "",
    ]  # fmt: skip
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64, 128) if k <= config.samples]
    complete = {p: c for p, c in summary.scored_counts().items() if c[0] >= config.samples}
    if complete and shown:
        over = (
            f"Over all {len(complete)} problems (statements Lean rejected count as unsolved)."
            if len(complete) == len(counts)
            else f"Over the {len(complete)} problems with all samples done."
        )
        lines += [
            "## pass@k",
            "",
            "| k | " + " | ".join(map(str, ks)) + " |",
            "| --- |" + " --- |" * len(ks),
            "| pass@k | "
            + " | ".join(f"{100 * mean_pass_at_k(complete, k):.1f}%" for k in ks)
            + " |",
            *_sound_pass_at_k(summary, complete, ks),
            "",
            over,
            "",
        ]
    if summary.retryable:
        lines += [
            "## Retryable samples (outages, not results)",
            "",
            "| problem | sample | error |",
            "| --- | --- | --- |",
            *[f"| {p} | {i} | {error} |" for (p, i), error in sorted(summary.retryable.items())],
            "",
        ]
    failed = sorted(p for p, (ok, _) in preflight.items() if not ok)
    lines += [
        "## Pre-flight",
        "",
        f"{len(failed)} of {len(problems)} statements failed to elaborate with `sorry` "
        "and count as unsolved" + (": " + ", ".join(failed) if failed else "."),
        "",
    ]
    lines += [
        "## Lean time",
        "",
        (
            f"Verdict cache: {checks.cached} of {checks.total} final checks were answered "
            f"without a Lean run of their own ({checks.total - checks.cached} misses), saving "
            f"{checks.saved_seconds:.1f} Lean seconds. A cached verdict is the one Lean gave "
            "the same proof, statement and verification settings."
        ),
        "",
    ]
    rates = solve_rates(counts)
    lines += ["## Per-problem solve rates", "", "| problem | solved / samples |", "| --- | --- |"]
    lines += [
        f"| {p} | "
        + (
            "statement rejected by Lean"
            if p in summary.failed_preflight
            else f"{counts[p][1]}/{counts[p][0]}"
        )
        + " |"
        for p in sorted(rates, key=lambda p: (rates[p], p))
    ]
    return "\n".join(lines) + "\n"


def _sound_pass_at_k(
    summary: RunSummary, complete: dict[str, tuple[int, int]], ks: list[int]
) -> list[str]:
    """The pass@k row without the statements known to be defective (none: no list applies,
    or none of them is in the run)."""
    bad = summary.known_defective()
    kept = {p: c for p, c in complete.items() if p not in bad}
    if not bad or not kept:
        return []
    return [
        f"| pass@k without the {len(complete) - len(kept)} known-defective | "
        + " | ".join(f"{100 * mean_pass_at_k(kept, k):.1f}%" for k in ks)
        + " |"
    ]


def _soundness(summary: RunSummary, shown: bool) -> list[str]:
    """The benchmark-soundness section: known defects, pass@1 without them, and any
    statement known to be false that a sample proved."""
    if summary.defects is None:
        return []
    bad = summary.known_defective()
    listed = f"`{summary.defects.benchmark}.defects.yaml`, each with its public source"
    lines = [
        "## Benchmark soundness",
        "",
        f"{summary.defects.summary(bad)} are in this benchmark ({listed}).",
        "",
    ]
    sound = summary.sound_pass1()
    if shown and sound is not None:
        kept = len(summary.problems) - len(bad)
        lines += [
            (
                f"pass@1 over the {kept} statements not known to be defective: **{_pct(sound)}** "
                f"(the headline above keeps all {len(summary.problems)}, as published numbers do)."
            ),
            "",
        ]
    if bad:
        lines += [
            "| problem | class | solved / samples | reason | source |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {n} | {d.kind} | {summary.counts[n][1]}/{summary.counts[n][0]}"
            f" | {d.reason} | {d.source} |"
            for n, d in sorted(bad.items())
        ]
        lines.append("")
    for defect, solved in summary.false_statements_proved():
        lines += [
            (
                f"**Verifier or statement problem:** {solved} samples proved `{defect.name}`, "
                f"which is known to be false ({defect.reason}). Inspect these proofs."
            ),
            "",
        ]
    return lines


def _pct(estimate: Estimate) -> str:
    return f"{100 * estimate.value:.1f}% [{100 * estimate.low:.1f}, {100 * estimate.high:.1f}]"


def _plot(
    path: Path,
    curve: dict[int, float],
    xlabel: str,
    title: str,
    *,
    log2: bool = False,
    paper: dict[int, float] | None = None,
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    xs = list(curve)
    ax.plot(xs, [100 * curve[x] for x in xs], marker="o", label="this run")
    if paper:
        ax.plot(
            list(paper),
            list(paper.values()),
            marker="s",
            linestyle="--",
            label="StepFun-Prover-Preview-32B (paper)",
        )
    if log2:
        ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("pass@1 (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _pick_trajectories(store: RunStore, problems: list[str], per_problem: int) -> list[Trajectory]:
    """Per problem: its first solved trajectory first, then unsolved ones, up to ``per_problem``;
    and every retryable one (no result: each shows its error)."""
    chosen: list[Trajectory] = []
    for problem in problems:
        trajectories = list(store.trajectories(problem))
        solved = [t for t in trajectories if t.solved][:1]
        rest = [t for t in trajectories if not t.solved and not t.retryable]
        chosen += (solved + rest)[:per_problem] + [t for t in trajectories if t.retryable]
    return chosen


def _render_completion(trajectory: Trajectory) -> str:
    return "".join(
        f'<pre class="{kind}">{html.escape(text)}</pre>'
        for kind, text in trajectory_parts(trajectory)
    )


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
pre {{ white-space: pre-wrap; margin: 0.2em 0; padding: 0.3em; }}
.think {{ color: #777; }} .sketch {{ background: #e6f3ff; }} .repl {{ background: #fff6d6; }}
.answer {{ background: #eaffea; }} .hidden {{ display: none; }}
details {{ border: 1px solid #ccc; margin: 0.4em 0; padding: 0.3em; }}
.solved summary {{ color: #17702a; }} .unsolved summary {{ color: #a31515; }}
.retryable summary {{ color: #8a5a00; }} .error {{ background: #ffe6e6; }}
</style></head><body>
<h1>{title}</h1>
<p>{summary}</p>
<p>Show: <button id="show-all" onclick="applyFilter('all')">all</button>
<button id="show-solved" onclick="applyFilter('solved')">solved</button>
<button id="show-unsolved" onclick="applyFilter('unsolved')">unsolved</button>
<button id="show-retryable" onclick="applyFilter('retryable')">retryable (no result)</button>
<span id="shown"></span></p>
{items}
<script>
function applyFilter(kind) {{
  let shown = 0;
  for (const el of document.querySelectorAll('.trajectory')) {{
    const visible = kind === 'all' || el.classList.contains(kind);
    el.classList.toggle('hidden', !visible);
    if (visible) shown++;
  }}
  document.getElementById('shown').textContent = shown + ' shown';
}}
applyFilter(location.hash.replace('#', '') || 'all');
</script></body></html>
"""


def _html(
    config: RunConfig, summary: RunSummary, trajectories: list[Trajectory], shown: bool
) -> str:
    counts = summary.counts
    items = []
    for t in trajectories:
        status = "solved" if t.solved else "retryable" if t.retryable else "unsolved"
        if t.retryable:
            verdict = f"retryable, no result ({t.finish}): {t.error or 'no error recorded'}"
        else:
            verdict = t.verdict.outcome.value if t.verdict else f"no verdict ({t.finish})"
        n, c = counts.get(t.problem, (0, 0))
        line = html.escape(
            f"{t.problem} #{t.sample_index}: {verdict} · {plural(len(t.repl_calls), 'REPL call')} "
            f"· problem solved {c}/{n}"
        )
        error = f'<pre class="error">{html.escape(t.error)}</pre>' if t.error else ""
        items.append(
            f'<details class="trajectory {status}" data-problem="{html.escape(t.problem)}">'
            f"<summary>{line}</summary>{error}"
            f'<pre class="prompt">{html.escape(t.prompt_text)}</pre>{_render_completion(t)}'
            "</details>"
        )
    headline = _pct(summary.headline()) if shown else "not reported (incomplete run)"
    label = "" if summary.complete else "INCOMPLETE RUN · "
    retry = len(summary.retryable)
    text = (
        f"{label}pass@1 {headline} over {len(summary.problems)} problems, {config.samples} "
        f"samples each"
        + (f" · {plural(retry, 'sample')} retryable (no result; each shown)" if retry else "")
        + " · showing up to a few trajectories per problem"
    )
    title = html.escape(f"{config.model} on {config.dataset}")
    return _PAGE.format(title=title, summary=html.escape(text), items="\n".join(items))
