"""Benchmarks and problem sets."""

from stepprover.data.problems import (
    DataError,
    Problem,
    bundled_path,
    find_problem,
    load_jsonl,
    load_minif2f,
)

__all__ = ["DataError", "Problem", "bundled_path", "find_problem", "load_jsonl", "load_minif2f"]
