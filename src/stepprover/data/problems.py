"""Problems (a Lean header plus a formal statement) and their loaders."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from stepprover.errors import DataError


@dataclass(frozen=True)
class Bundled:
    file: str
    lean_versions: tuple[str, ...]
    """Lean versions the statements are known to elaborate under."""
    splits: tuple[str, ...]
    """The splits the file holds (``NAME-SPLIT`` names a benchmark)."""


BUNDLED: dict[str, Bundled] = {
    # Longest names first: "minif2f-yangky11-test" must not read as "minif2f" split "yangky11-test".
    "minif2f-goedel-v2": Bundled("minif2f-goedel-v2.jsonl", ("v4.9.0",), ("test",)),
    "minif2f-yangky11": Bundled("minif2f-yangky11.jsonl", ("v4.24.0",), ("test", "valid")),
    "minif2f": Bundled("minif2f.jsonl", ("v4.9.0", "v4.20.0-rc5"), ("test", "valid")),
}
"""Benchmarks shipped inside the package; see data/benchmarks/PROVENANCE.md."""


def bundled_benchmarks() -> list[str]:
    """Every bundled benchmark name (``NAME-SPLIT``), as ``--benchmark`` takes them."""
    return sorted(f"{name}-{split}" for name, b in BUNDLED.items() for split in b.splits)


class Problem(BaseModel):
    """One theorem to prove."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    header: str = "import Mathlib\n\n"
    """Imports, options and opens that precede the statement."""
    formal_statement: str
    """``theorem name ... := by`` (no proof, no sorry)."""
    informal_prefix: str = ""
    split: str | None = None

    @property
    def statement_text(self) -> str:
        """Header + statement: what a proof must prove, as the verifier takes it."""
        return self.header + self.formal_statement

    def with_proof(self, proof_body: str) -> str:
        """The complete Lean file for a proof written without imports."""
        return self.header + proof_body


def load_jsonl(path: Path | str, *, split: str | None = None) -> list[Problem]:
    """Problems from a JSONL file with ``name``, ``formal_statement`` and optional ``header``.

    Raises DataError (naming the file and line) on a line that is not a problem
    record, or on a name already used on an earlier line of the file (in any split:
    results are keyed by name, so two problems with one name would merge).
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read problems from {path}: {exc}") from exc
    problems = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            problem = Problem.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: not a problem record (invalid JSON: {exc})") from exc
        except ValidationError as exc:
            fields = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors()
            )
            raise DataError(f"{path}:{number}: not a problem record ({fields})") from exc
        if problem.name in first_line:
            raise DataError(
                f"{path}:{number}: duplicate problem name {problem.name!r} "
                f"(first on line {first_line[problem.name]})"
            )
        first_line[problem.name] = number
        if split is None or problem.split == split:
            problems.append(problem)
    return problems


def bundled_path(name: str) -> Path:
    """Path of a benchmark shipped with the package."""
    if name not in BUNDLED:
        raise DataError(f"unknown bundled benchmark {name!r}; known: {', '.join(BUNDLED)}")
    return Path(str(resources.files("stepprover.data") / "benchmarks" / BUNDLED[name].file))


def load_minif2f(split: str = "test", path: Path | str | None = None) -> list[Problem]:
    """miniF2F's ``test`` or ``valid`` split (244 problems each), bundled by default."""
    return load_jsonl(path or bundled_path("minif2f"), split=split)


def find_problem(problems: list[Problem], name: str) -> Problem:
    for problem in problems:
        if problem.name == name:
            return problem
    raise DataError(f"no problem named {name!r}")


def benchmarks_holding(name: str) -> list[str]:
    """The bundled benchmarks (``NAME-SPLIT``) that have a problem named ``name``."""
    return [b for b in bundled_benchmarks() if any(p.name == name for p in load_benchmark(b)[0])]


def load_benchmark(spec: str) -> tuple[list[Problem], Path, str | None]:
    """``minif2f-test`` / ``minif2f-valid`` (bundled), or ``FILE.jsonl`` / ``FILE.jsonl:SPLIT``.

    Returns the problems, the file they came from and the split.
    """
    split: str | None
    for name, bundled in BUNDLED.items():
        if spec.startswith(name + "-") and spec[len(name) + 1 :] in bundled.splits:
            split = spec[len(name) + 1 :]
            path = bundled_path(name)
            break
    else:
        file, _, split_part = spec.partition(":")
        path, split = Path(file), split_part or None
        if not path.is_file():
            raise DataError(
                f"unknown benchmark {spec!r}: not a file, and not one of the bundled "
                f"{', '.join(bundled_benchmarks())}"
            )
    problems = load_jsonl(path, split=split)
    if not problems:
        raise DataError(f"benchmark {spec!r} has no problems (split {split!r} of {path})")
    return problems, path, split


def lean_version_warning(spec: str, lean_version: str | None) -> str | None:
    """A warning when a bundled benchmark targets other Lean versions than the one in use."""
    name = next((n for n in BUNDLED if spec.startswith(n + "-")), None)
    if name is None:
        return None
    targets = BUNDLED[name].lean_versions
    if lean_version is None:
        return (
            f"{spec} targets Lean {', '.join(targets)}; the Lean version behind a custom "
            "REPL command is unknown"
        )
    if lean_version not in targets:
        return (
            f"{spec} targets Lean {', '.join(targets)} but this run uses {lean_version}: "
            "some statements may not elaborate (they count as unsolved; see pre-flight)"
        )
    return None


def file_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
