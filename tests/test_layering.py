"""The layering of docs/architecture.md: each subpackage stands only on those below it.

For each subpackage, a fresh interpreter imports every module in it and lists which other
stepprover subpackages got loaded; a static pass does the same for imports inside
functions (loaded only when called), so no layer reaches up even lazily.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import stepprover

PACKAGE = Path(stepprover.__file__).parent
LAYERS = ["cli", "train", "eval", "provers", "agent", "server", "lean", "models", "data"]
"""Top to bottom, as design.md draws them; errors.py is below them all."""

ALLOWED = {layer: {*LAYERS[i + 1 :], "errors"} for i, layer in enumerate(LAYERS)}
ALLOWED["errors"] = set()

PROBE = """
import importlib, json, sys
failed = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ImportError as exc:  # an optional dependency (vllm, ray...) missing here
        if (exc.name or "").startswith("stepprover"):
            raise
        failed[name] = str(exc)
loaded = sorted({m.split(".")[1] for m in sys.modules if m.startswith("stepprover.")})
print(json.dumps({"loaded": loaded, "failed": failed}))
"""


def modules_of(subpackage: str) -> list[str]:
    root = PACKAGE / subpackage
    files = sorted(root.rglob("*.py")) if root.is_dir() else [PACKAGE / f"{subpackage}.py"]
    names = []
    for path in files:
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__main__":
            continue  # running it would run the command line
        names.append(".".join(("stepprover", *(parts[:-1] if parts[-1] == "__init__" else parts))))
    return names


def test_every_subpackage_is_a_known_layer() -> None:
    found = {p.name for p in PACKAGE.iterdir() if p.is_dir() and any(p.glob("*.py"))}
    found |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert found == set(ALLOWED), found ^ set(ALLOWED)


@pytest.mark.parametrize("subpackage", sorted(ALLOWED))
def test_importing_a_subpackage_loads_only_the_layers_below(subpackage: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *modules_of(subpackage)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    above = set(report["loaded"]) - ALLOWED[subpackage] - {subpackage}
    assert not above, (
        f"importing stepprover.{subpackage} loads {sorted(above)} (failed: {report['failed']})"
    )


def imported_layers(path: Path) -> set[str]:
    """Every stepprover subpackage ``path`` imports, at module level or inside functions."""
    layers = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom) and node.level == 0
            else []
        )
        for name in names:
            parts = name.split(".")
            if parts[0] == "stepprover" and len(parts) > 1:
                layers.add(parts[1])
    return layers


def test_no_layer_imports_upwards_even_lazily() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        layer = parts[0] if len(parts) > 1 else path.stem
        if layer == "__init__":
            continue
        for target in imported_layers(path) - ALLOWED[layer] - {layer}:
            upward.append(f"{path.relative_to(PACKAGE)} imports stepprover.{target}")
    assert not upward, upward
