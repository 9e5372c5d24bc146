"""Training statement sets: loaded from JSONL or a Hugging Face dataset, decontaminated.

Every training set is checked against miniF2F (test and valid) by normalised
statement text, so that no evaluation problem leaks into training.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepprover.data.problems import Problem, load_jsonl, load_minif2f
from stepprover.errors import DataError

_THEOREM_NAME = re.compile(r"^\s*(theorem|lemma)\s+\S+")
_COMMENTS = re.compile(r"/-.*?-/|--[^\n]*", re.DOTALL)


def normalise_statement(statement: str) -> str:
    """The statement without its name, comments, trailing ``:= by``/``sorry`` and spacing."""
    text = _COMMENTS.sub(" ", statement)
    text = _THEOREM_NAME.sub("", text)
    text = re.sub(r":=\s*(by)?\s*(sorry)?\s*$", "", text.strip())
    return " ".join(text.split())


@dataclass(frozen=True)
class Decontamination:
    kept: list[Problem]
    removed: list[Problem]

    def summary(self) -> str:
        return (
            f"decontamination: removed {len(self.removed)} of "
            f"{len(self.kept) + len(self.removed)} statements that match miniF2F"
        )


def decontaminate(
    problems: Iterable[Problem], against: Iterable[Problem] | None = None
) -> Decontamination:
    """Drop every problem whose normalised statement equals one of ``against``
    (default: miniF2F test + valid)."""
    reference = (
        list(against) if against is not None else load_minif2f("test") + load_minif2f("valid")
    )
    banned = {normalise_statement(p.formal_statement) for p in reference}
    kept: list[Problem] = []
    removed: list[Problem] = []
    for problem in problems:
        (removed if normalise_statement(problem.formal_statement) in banned else kept).append(
            problem
        )
    return Decontamination(kept, removed)


def from_records(
    records: Iterable[dict[str, Any]], *, default_header: str = "import Mathlib\n\n"
) -> list[Problem]:
    """Problems from dataset rows in the common schemas (Lean Workbook, NuminaMath-LEAN,
    Goedel-Pset): ``formal_statement`` with an optional ``header``/``name``/``id``."""
    problems = []
    for index, row in enumerate(records):
        statement = row.get("formal_statement")
        if not isinstance(statement, str) or not statement.strip():
            raise DataError(f"row {index}: no formal_statement")
        name = str(row.get("name") or row.get("id") or row.get("problem_id") or f"row{index}")
        header = row.get("header") or default_header
        statement = re.sub(r"\s*sorry\s*$", "", statement.rstrip())
        problems.append(
            Problem(
                name=name,
                header=header,
                formal_statement=statement + "\n",
                informal_prefix=row.get("informal_prefix", ""),
            )
        )
    return problems


def load_prompt_set(source: str, *, split: str = "train") -> list[Problem]:
    """A JSONL file path, or a Hugging Face dataset name (needs network access to the Hub)."""
    if Path(source).exists():
        return load_jsonl(source)
    from datasets import load_dataset

    return from_records(load_dataset(source, split=split))
