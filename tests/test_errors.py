"""errors.py holds every exception class, its docstring draws the real tree, and no code
raises the base class (read from the source, so no optional dependency is imported)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from stepprover import errors

PACKAGE = Path(errors.__file__).parent


def _modules() -> list[tuple[Path, ast.Module]]:
    return [
        (path, ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


def _exception_classes() -> dict[str, type[BaseException]]:
    return {
        name: value
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
    }


def test_every_exception_class_lives_in_errors_py() -> None:
    known = {*_exception_classes(), "Exception", "BaseException"}
    elsewhere = []
    for path, tree in _modules():
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = {
                    b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
                }
                if bases & known or any(b.endswith(("Error", "Exception")) for b in bases):
                    elsewhere.append(f"{path.relative_to(PACKAGE)}: {node.name}")
    assert not elsewhere, elsewhere


def test_no_code_raises_the_base_class() -> None:
    found = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and node.exc is not None:
                target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(target, ast.Name) and target.id == "StepproverError":
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not found, found


def test_the_docstring_draws_the_whole_tree() -> None:
    classes = _exception_classes()
    drawn: dict[str, str | None] = {}
    stack: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^(\s*)((?:[│ ] {3})*)(?:[├└]── )?([A-Z]\w+)(?:\s{2,}|$)", line)
        if not match or match[3] not in classes:
            continue
        depth = 0 if "──" not in line else (len(match[2]) // 4) + 1
        stack[depth:] = [match[3]]
        drawn[match[3]] = stack[depth - 1] if depth else None
    assert set(drawn) == set(classes), set(classes) ^ set(drawn)
    for name, parent in drawn.items():
        if parent is not None:
            assert classes[parent] in classes[name].__bases__, f"{name} is drawn under {parent}"
    for name, cls in classes.items():
        for base in cls.__bases__:
            if base.__module__ == errors.__name__ and drawn[name] != base.__name__:
                line = next(
                    x for x in (errors.__doc__ or "").splitlines() if re.search(rf"\b{name}\b", x)
                )
                assert f"also a {base.__name__}" in line, (
                    f"{name}'s base {base.__name__} is not drawn"
                )
