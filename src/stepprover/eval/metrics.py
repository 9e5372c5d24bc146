"""pass@k, confidence intervals, paired comparisons, and budget curves from one run.

Every average divides by the full problem count: a problem with no solved
sample (or none at all, e.g. its statement failed pre-flight) counts as 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

REPL_CAPS = (1, 2, 4, 8, 16, 32)
CONTEXT_LENGTHS = (4096, 8192, 12288, 16384, 20480)


class SampleResult(NamedTuple):
    """What the metrics need of one finished sample (the run index holds exactly this;
    a tuple, so that reading 100,000 of them on resume stays fast)."""

    problem: str
    sample_index: int
    solved: bool
    repl_calls: int
    final_context_tokens: int | None


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{100 * self.value:.1f}% [{100 * self.low:.1f}, {100 * self.high:.1f}]"


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k).

    Raises ValueError when k > n: there are too few samples to estimate it.
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= correct <= samples, got c={c}, n={n}")
    if k < 1 or k > n:
        raise ValueError(f"pass@{k} needs 1 <= k <= n samples (n={n})")
    if n - c < k:
        return 1.0
    # The product form avoids huge binomials: prod_{i=n-c+1}^{n} (1 - k / i).
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def solve_counts(
    samples: Iterable[SampleResult], problems: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """(samples, solved) per problem, every problem present."""
    counts = {p: [0, 0] for p in problems}
    for s in samples:
        if s.problem in counts:
            counts[s.problem][0] += 1
            counts[s.problem][1] += int(s.solved)
    return {p: (n, c) for p, (n, c) in counts.items()}


def mean_pass_at_k(counts: Mapping[str, tuple[int, int]], k: int) -> float:
    """pass@k averaged over all problems (problems without samples count 0)."""
    if not counts:
        return math.nan
    return sum(pass_at_k(n, c, k) if n else 0.0 for n, c in counts.values()) / len(counts)


def solve_rates(counts: Mapping[str, tuple[int, int]]) -> dict[str, float]:
    """Per problem: solved samples / samples (0 where there were none)."""
    return {p: (c / n if n else 0.0) for p, (n, c) in counts.items()}


def bootstrap_mean(
    values: Sequence[float], *, resamples: int = 10_000, alpha: float = 0.05, seed: int = 0
) -> Estimate:
    """Mean with a percentile bootstrap interval, resampling problems."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return Estimate(math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return Estimate(float(data.mean()), float(low), float(high))


def pass1(counts: Mapping[str, tuple[int, int]], **bootstrap: int) -> Estimate:
    """pass@1 as the mean over samples of each problem (the paper's "average of n"),
    averaged over problems, with a bootstrap interval over problems."""
    return bootstrap_mean(list(solve_rates(counts).values()), **bootstrap)


def paired_difference(
    a: Mapping[str, tuple[int, int]],
    b: Mapping[str, tuple[int, int]],
    *,
    intersect: bool = False,
    **bootstrap: int,
) -> Estimate:
    """pass@1(a) - pass@1(b) with a paired bootstrap over problems.

    Raises ValueError when the runs cover different problems, unless ``intersect``
    (then only the shared problems count), or when they share none.
    """
    if set(a) != set(b) and not intersect:
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        raise ValueError(
            f"the runs cover different problems ({len(only_a)} only in the first, "
            f"{len(only_b)} only in the second); pass intersect=True to compare "
            "the shared ones"
        )
    shared = sorted(set(a) & set(b))
    if not shared:
        raise ValueError("the two runs share no problem")
    rate_a, rate_b = solve_rates({p: a[p] for p in shared}), solve_rates({p: b[p] for p in shared})
    return bootstrap_mean([rate_a[p] - rate_b[p] for p in shared], **bootstrap)


def curve_by_repl_calls(
    samples: Sequence[SampleResult], problems: Sequence[str], caps: Sequence[int] = REPL_CAPS
) -> dict[int, float]:
    """pass@1 if at most k REPL calls were allowed, for each k, from one uncapped run.

    A sample counts at cap k iff it was verified having used at most k calls:
    exactly what the loop does when capped at k (the (k+1)-th call ends it)."""

    def within(k: int) -> Callable[[SampleResult], bool]:
        return lambda s: s.repl_calls <= k

    return {k: _pass1_within(samples, problems, within(k)) for k in caps}


def curve_by_context(
    samples: Sequence[SampleResult],
    problems: Sequence[str],
    lengths: Sequence[int] = CONTEXT_LENGTHS,
) -> dict[int, float]:
    """pass@1 if the context were capped at L tokens: a sample counts iff its final
    answer was complete within L tokens (prompt + generations + feedback)."""

    def within(length: int) -> Callable[[SampleResult], bool]:
        return lambda s: s.final_context_tokens is not None and s.final_context_tokens <= length

    return {length: _pass1_within(samples, problems, within(length)) for length in lengths}


def _pass1_within(
    samples: Sequence[SampleResult],
    problems: Sequence[str],
    within_budget: Callable[[SampleResult], bool],
) -> float:
    """pass@1 as if run under a budget: a sample is solved only if it stayed within it."""
    recounted = [s._replace(solved=s.solved and within_budget(s)) for s in samples]
    return mean_pass_at_k(solve_counts(recounted, problems), 1)
