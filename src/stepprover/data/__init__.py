"""Benchmarks and problem sets."""

from stepprover.data.problems import (
    Problem,
    bundled_path,
    find_problem,
    load_jsonl,
    load_minif2f,
)
from stepprover.errors import DataError

__all__ = ["DataError", "Problem", "bundled_path", "find_problem", "load_jsonl", "load_minif2f"]
