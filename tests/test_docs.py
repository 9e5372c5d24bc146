"""The README stays short and every relative link in it and in docs/ leads somewhere.

The site build (``mkdocs build --strict`` in CI) checks the links between pages; this test
also covers the README (not a page of the site), links to files outside docs/, the snippet
sections the site includes from README.md and CHANGELOG.md, and the committed OpenAPI
schema against the app.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").rglob("*.md"))
MAX_README_LINES = 250

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`+[^`\n]*`+")
LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SNIPPET = re.compile(r'^--8<-- "([^"]+)"\s*$', re.M)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)


def relative_links(markdown: str) -> list[str]:
    """Targets of the Markdown links outside code, without schemes or pure anchors."""
    prose = INLINE_CODE.sub("", FENCE.sub("", markdown))
    return [t for t in LINK.findall(prose) if not EXTERNAL.match(t) and not t.startswith("#")]


def test_link_reader_finds_links_outside_code_only() -> None:
    text = (
        "[a](x.md) `[b](y.md)` [c](https://e.org) [d](#top) ![e](img/p.png#s)\n"
        "```\n[f](z.md)\n```\n"
    )
    assert relative_links(text) == ["x.md", "img/p.png#s"]


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; move detail into docs/"


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    missing = []
    for target in relative_links(path.read_text(encoding="utf-8")):
        file = target.split("#", 1)[0]
        if file and not (path.parent / file).exists():
            missing.append(target)
    assert not missing, f"{path.relative_to(ROOT)} links to missing files: {missing}"


def test_readme_links_every_page_of_the_site() -> None:
    linked = {(ROOT / t.split("#")[0]).resolve() for t in relative_links(README.read_text())}
    top_pages = [p for p in PAGES if p.parent.name == "docs" and p.name != "index.md"]
    unlinked = [p.name for p in top_pages if p.resolve() not in linked]
    # included pages (the changelog) and helpers' pages are reached through the site's nav
    unlinked = [n for n in unlinked if n != "changelog.md"]
    assert not unlinked, f"README.md does not link {unlinked}"


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_snippets_name_existing_sections(path: Path) -> None:
    for include in SNIPPET.findall(path.read_text(encoding="utf-8")):
        file, _, section = include.partition(":")
        source = ROOT / file
        assert source.exists(), f"{path.name} includes missing {file}"
        if section:
            text = source.read_text(encoding="utf-8")
            for kind in ("start", "end"):
                assert f"--8<-- [{kind}:{section}]" in text, f"{file} lacks [{kind}:{section}]"


def test_committed_openapi_schema_is_what_the_app_serves() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "write_openapi.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
