"""Metrics against hand-computed values and synthetic trajectories."""

from __future__ import annotations

import math

import pytest

from stepprover.eval.metrics import (
    SampleResult,
    curve_by_context,
    curve_by_repl_calls,
    mean_pass_at_k,
    paired_difference,
    pass1,
    pass_at_k,
    solve_counts,
)


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (1, 1, 1, 1.0),
        (1, 0, 1, 0.0),
        (4, 1, 1, 0.25),
        (4, 1, 2, 0.5),  # 1 - C(3,2)/C(4,2) = 1 - 3/6
        (5, 2, 2, 0.7),  # 1 - C(3,2)/C(5,2) = 1 - 3/10
        (10, 3, 5, 1 - 21 / 252),  # 1 - C(7,5)/C(10,5)
        (4, 3, 2, 1.0),  # n - c < k
        (32, 0, 32, 0.0),
    ],
)
def test_pass_at_k_by_hand(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_refuses_impossible_arguments() -> None:
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)


def sample(
    problem: str, i: int, solved: bool, calls: int = 0, ctx: int | None = None
) -> SampleResult:
    return SampleResult(
        problem, i, solved, calls, ctx if ctx is not None else (1000 if solved else None)
    )


def test_denominator_is_every_problem() -> None:
    samples = [sample("a", 0, True), sample("a", 1, False), sample("b", 0, False)]
    counts = solve_counts(samples, ["a", "b", "c", "d"])
    assert counts == {"a": (2, 1), "b": (1, 0), "c": (0, 0), "d": (0, 0)}
    assert mean_pass_at_k(counts, 1) == pytest.approx(0.5 / 4)
    assert pass1(counts).value == pytest.approx(0.125)


def test_bootstrap_interval_contains_the_mean_and_narrows_with_more_problems() -> None:
    small = {f"p{i}": (4, i % 5) for i in range(20)}
    large = {f"p{i}": (4, i % 5) for i in range(2000)}
    a, b = pass1(small), pass1(large)
    assert a.low <= a.value <= a.high and b.low <= b.value <= b.high
    assert (b.high - b.low) < (a.high - a.low)


def test_paired_difference() -> None:
    a = {"x": (2, 2), "y": (2, 1), "z": (2, 0)}
    b = {"x": (2, 1), "y": (2, 1), "z": (2, 0), "extra": (2, 2)}
    with pytest.raises(ValueError, match="different problems"):
        paired_difference(a, b)
    diff = paired_difference(a, b, intersect=True)
    assert diff.value == pytest.approx(0.5 / 3)
    assert diff.low <= diff.value <= diff.high
    with pytest.raises(ValueError, match="share no problem"):
        paired_difference(a, {"q": (1, 1)}, intersect=True)


def test_curves_from_one_run() -> None:
    problems = ["a", "b"]
    samples = [
        sample("a", 0, True, calls=1, ctx=3000),
        sample("a", 1, True, calls=5, ctx=9000),
        sample("b", 0, True, calls=20, ctx=20000),
        sample("b", 1, False, calls=40, ctx=None),
    ]
    by_calls = curve_by_repl_calls(samples, problems)
    assert by_calls == {1: 0.25, 2: 0.25, 4: 0.25, 8: 0.5, 16: 0.5, 32: 0.75}
    by_context = curve_by_context(samples, problems)
    assert by_context == {4096: 0.25, 8192: 0.25, 12288: 0.5, 16384: 0.5, 20480: 0.75}
    assert all(math.isfinite(v) for v in by_calls.values())
