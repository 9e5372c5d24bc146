"""The version is written once and agrees with the CHANGELOG and the release tag.

``stepprover.__version__`` is the one place (pyproject.toml reads it: ``dynamic``); the
newest CHANGELOG entry is that version, and a commit tagged ``v*`` carries its version.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import stepprover

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_reads_the_version_from_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"], "the version is written in pyproject.toml too"
    assert "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "stepprover.__version__"}


def test_version_is_a_release_number() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", stepprover.__version__)


def test_newest_changelog_entry_is_this_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    newest = re.search(r"^## (\S+)", changelog, re.M)
    assert newest is not None, "CHANGELOG.md has no release heading"
    assert newest.group(1) == stepprover.__version__


def test_a_release_tag_on_this_commit_names_this_version() -> None:
    # A fresh clone may have no tags (CI clones without them): then there is nothing to check.
    done = subprocess.run(
        ["git", "tag", "--points-at", "HEAD", "--list", "v*"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    tags = done.stdout.split() if done.returncode == 0 else []
    for tag in tags:
        assert tag == f"v{stepprover.__version__}", (
            f"tag {tag} on a {stepprover.__version__} commit"
        )
