"""Statements of the bundled benchmarks known to be defective, with their public sources.

Each bundled benchmark ``NAME.jsonl`` ships ``NAME.defects.yaml`` (see its header for the
classes). A list applies to a dataset by content: a run whose dataset has the same sha256
as the bundled file gets it, whatever path or split the run used.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict

from stepprover.data.problems import BUNDLED

DefectClass = Literal["false", "unprovable", "mistranslated"]


class Defect(BaseModel):
    """One known-defective statement."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str
    kind: DefectClass
    """false: a counterexample meets every hypothesis; unprovable: cannot be proved as
    stated; mistranslated: states something other than the problem."""
    reason: str
    source: str
    """The public issue, PR or corrected file that reports it."""
    evidence: str
    """Text the defective statement contains (tests check it against the bundled file)."""
    corrected_in: str | None = None
    """A bundled benchmark whose version of the statement is corrected."""


class DefectList(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    benchmark: str
    sha256: str
    """Of the benchmark file the list was checked against."""
    corrected_variant: str | None = None
    defects: list[Defect]

    def by_name(self) -> dict[str, Defect]:
        return {d.name: d for d in self.defects}

    def summary(self, names: Iterable[str] | None = None) -> str:
        """``17 known-defective statements (11 false, 1 unprovable, 5 mistranslated)``,
        counting only ``names`` when given."""
        wanted = None if names is None else set(names)
        chosen = [d for d in self.defects if wanted is None or d.name in wanted]
        counts = Counter(d.kind for d in chosen)
        parts = ", ".join(
            f"{counts[k]} {k}" for k in ("false", "unprovable", "mistranslated") if counts[k]
        )
        return f"{len(chosen)} known-defective statements" + (f" ({parts})" if parts else "")


def _raw(entry: dict[str, object]) -> dict[str, object]:
    # YAML key `class` (the word) is `kind` here: `class` is a Python keyword.
    entry = dict(entry)
    entry["kind"] = entry.pop("class")
    return entry


@cache
def shipped_defect_lists() -> tuple[DefectList, ...]:
    """Every shipped list, one per bundled benchmark."""
    folder = resources.files("stepprover.data") / "benchmarks"
    lists = []
    for name in BUNDLED:
        data = yaml.safe_load((folder / f"{name}.defects.yaml").read_text(encoding="utf-8"))
        data["defects"] = [_raw(e) for e in data["defects"]]
        lists.append(DefectList.model_validate(data))
    return tuple(lists)


def defects_for(dataset_sha256: str) -> DefectList | None:
    """The known defects of the dataset with this sha256 (None: not a bundled benchmark)."""
    return next((d for d in shipped_defect_lists() if d.sha256 == dataset_sha256), None)


def start_line(spec: str, dataset_sha256: str, names: Iterable[str]) -> str | None:
    """The line ``stepprover eval`` prints once at start for a bundled benchmark."""
    found = defects_for(dataset_sha256)
    if found is None:
        return None
    wanted = set(names)
    listed = f"stepprover/data/benchmarks/{found.benchmark}.defects.yaml"
    if not any(d.name in wanted for d in found.defects):
        return (
            f"{spec}: none of these {len(wanted)} problems is in {listed} "
            "(known defects, with sources)"
        )
    line = f"{spec}: {found.summary(wanted)} among these {len(wanted)} problems (see {listed})"
    fixed = sum(d.corrected_in is not None and d.name in wanted for d in found.defects)
    if found.corrected_variant and fixed:
        line += f"; --benchmark {found.corrected_variant} has {fixed} of them corrected"
    return line
