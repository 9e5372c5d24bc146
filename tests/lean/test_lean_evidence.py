"""docs/lean-evidence.md keeps up with the code: every Lean text the code matches on has a
row, every JSON key of the protocol is named, every cited fixture and test exists, and
every cited line of code still holds what its row names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from stepprover.lean import lean_texts, protocol

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "lean-evidence.md"
NEAR = 40
"""A cited line may drift this far (edits above it) before the row must be updated."""


def rows() -> list[list[str]]:
    found = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 5:
            found.append(cells)
    return found


def code_of(row: list[str]) -> str:
    return row[0].strip("`")


def test_the_document_has_rows() -> None:
    assert len(rows()) >= 35


def test_every_lean_text_has_a_row() -> None:
    names = {n for n in vars(lean_texts) if n.isupper() and not n.startswith("_")}
    assert names, "lean_texts defines no texts"
    documented = {code_of(r) for r in rows()}
    assert not names - documented, f"no row in {DOC.name} for {sorted(names - documented)}"


def test_every_json_key_of_the_protocol_is_named() -> None:
    keys = set()
    for model in vars(protocol).values():
        if isinstance(model, type) and issubclass(model, BaseModel) and model is not BaseModel:
            for name, field in model.model_fields.items():
                if name != "raw":
                    keys.add(field.alias or name)
    text = DOC.read_text()
    missing = sorted(k for k in keys if f"`{k}`" not in text)
    assert not missing, f"JSON keys without a row in {DOC.name}: {missing}"


def test_every_cited_fixture_exists() -> None:
    cited = set(re.findall(r"tests/data/[\w./-]*[\w/]", DOC.read_text()))
    assert cited
    missing = sorted(p for p in cited if not (REPO / p).exists())
    assert not missing, f"{DOC.name} cites fixtures that are not there: {missing}"


def test_every_cited_lean_test_exists() -> None:
    cited = set(re.findall(r"(tests/[\w/]+\.py)::(\w+)", DOC.read_text()))
    assert cited
    for path, name in sorted(cited):
        assert re.search(rf"^(async )?def {name}\(", (REPO / path).read_text(), re.M), (
            f"{DOC.name} cites {path}::{name}, which does not exist"
        )


@pytest.mark.parametrize("row", rows(), ids=lambda r: r[0])
def test_each_cited_line_holds_what_the_row_names(row: list[str]) -> None:
    code = code_of(row)
    for path, line in re.findall(r"((?:src|tests)/[\w/]+\.py):(\d+)", row[2]):
        lines = (REPO / path).read_text().splitlines()
        at = int(line)
        window = lines[max(0, at - 1 - NEAR) : at + NEAR]
        assert any(code in text for text in window), (
            f"{path}:{line} (cited for `{code}`) is no longer near code naming it: "
            f"update {DOC.name}"
        )
