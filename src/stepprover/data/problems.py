"""Problems (a Lean header plus a formal statement) and their loaders."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from stepprover.errors import DataError

Track = Literal["given", "found"]
"""How a benchmark's answer definitions reach the proof: ``given`` (filled in from the
published answer before the model sees the statement) or ``found`` (the proof defines them)."""


@dataclass(frozen=True)
class Part:
    """What ``NAME-PART`` selects from a bundled file."""

    split: str | None
    """The split it holds (None: the whole file)."""
    track: Track | None = None


@dataclass(frozen=True)
class Bundled:
    file: str
    lean_versions: tuple[str, ...]
    """Lean versions the statements are known to elaborate under."""
    parts: dict[str, Part]
    """The benchmarks the file holds (``NAME-PART`` names one): splits, or answer tracks."""
    toolchain: str
    """The Lean and Mathlib the publisher maintains the statements for."""


def _splits(*names: str) -> dict[str, Part]:
    return {n: Part(n) for n in names}


BUNDLED: dict[str, Bundled] = {
    # Longest names first: "minif2f-yangky11-test" must not read as "minif2f" split "yangky11-test".
    "minif2f-goedel-v2": Bundled(
        "minif2f-goedel-v2.jsonl", ("v4.9.0",), _splits("test"), "Lean v4.9.0"
    ),
    "minif2f-yangky11": Bundled(
        "minif2f-yangky11.jsonl", ("v4.24.0",), _splits("test", "valid"), "Lean v4.24.0"
    ),
    "minif2f": Bundled(
        "minif2f.jsonl",
        ("v4.9.0", "v4.20.0-rc5"),
        _splits("test", "valid"),
        "Lean v4.9.0",
    ),
    "putnambench": Bundled(
        "putnambench.jsonl",
        ("v4.27.0",),
        {"given": Part(None, "given"), "found": Part(None, "found")},
        "Lean v4.27.0, Mathlib v4.27.0",
    ),
    "combibench": Bundled(
        "combibench.jsonl",
        ("v4.24.0",),
        {"test": Part(None, "found")},
        "Lean v4.24.0, Mathlib v4.24.0",
    ),
    "proofnet": Bundled(
        "proofnet.jsonl", ("v4.20.0",), _splits("test", "valid"), "Lean v4.20.0, Mathlib v4.20.0"
    ),
}
"""Benchmarks shipped inside the package; see data/benchmarks/PROVENANCE.md."""


def bundled_benchmarks() -> list[str]:
    """Every bundled benchmark name (``NAME-PART``), as ``--benchmark`` takes them."""
    return sorted(f"{name}-{part}" for name, b in BUNDLED.items() for part in b.parts)


def bundled_part(spec: str) -> tuple[str, Part] | None:
    """The bundled file name and part that ``NAME-PART`` names (None: not a bundled name)."""
    for name in sorted(BUNDLED, key=len, reverse=True):
        part = (
            BUNDLED[name].parts.get(spec[len(name) + 1 :]) if spec.startswith(name + "-") else None
        )
        if part is not None:
            return name, part
    return None


class Answer(BaseModel):
    """An answer definition of a statement (``abbrev NAME : TYPE := sorry``) and its
    published answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    value: str
    """The answer as published (PutnamBench: the comment under the definition)."""


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
    answers: tuple[Answer, ...] = ()
    """Answer definitions in ``formal_statement`` (``abbrev NAME : TYPE := sorry``)."""

    @property
    def statement_text(self) -> str:
        """Header + statement: what a proof must prove, as the verifier takes it."""
        return self.header + self.formal_statement

    @property
    def verified_statement(self) -> str:
        """What the verifier compares a proof with: ``statement_text``, except that answer
        definitions still open (``:= sorry``: the answer-found track) are filled in with their
        published answers, so a found answer counts only where it unfolds to the published
        one (``lean.answers``: reducibly, so another form of the right answer fails closed),
        never where it restates the problem (``:= 2 + 2`` proved by ``rfl``)."""
        if not self.answers:
            return self.statement_text
        try:
            return self.with_answers_given().statement_text
        except DataError:  # filled in already (the answer-given track)
            return self.statement_text

    def with_answers_given(self) -> Problem:
        """The statement with each answer definition filled in with its published answer
        (made ``noncomputable``: an answer in ℝ has no code); raises DataError when a
        definition is not in the statement."""
        statement = self.formal_statement
        for answer in self.answers:
            found = re.search(
                rf"^(noncomputable )?abbrev {re.escape(answer.name)} (: .*):= sorry$",
                statement,
                re.MULTILINE,
            )
            if found is None:
                raise DataError(f"{self.name}: no `abbrev {answer.name} : … := sorry` to fill in")
            filled = f"noncomputable abbrev {answer.name} {found[2]}:= {answer.value}"
            statement = statement[: found.start()] + filled + statement[found.end() :]
        return self.model_copy(update={"formal_statement": statement})

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
        lines = read_limited(path).decode("utf-8").splitlines()
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
    """A bundled ``NAME-PART`` (``minif2f-test``, ``putnambench-given``...), or
    ``FILE.jsonl`` / ``FILE.jsonl:SPLIT``.

    Returns the problems (on the ``given`` track with their answers filled in), the file
    they came from and the split.
    """
    split: str | None
    track: Track | None = None
    if (bundled := bundled_part(spec)) is not None:
        name, part = bundled
        path, split, track = bundled_path(name), part.split, part.track
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
    if track == "given":
        problems = [p.with_answers_given() for p in problems]
    return problems, path, split


def benchmark_track(spec: str) -> Track | None:
    """The answer track a bundled benchmark name selects (None: no answer definitions)."""
    bundled = bundled_part(spec)
    return None if bundled is None else bundled[1].track


TRACKS: dict[Track, str] = {
    "given": "answer given (the published answers filled in before the model sees the statement)",
    "found": "answer found (the proof defines the answers; each must unfold to the published one)",
}


def benchmark_description(spec: str) -> str | None:
    """``NAME-PART: for TOOLCHAIN; answer track: …`` for a bundled benchmark (None: a file)."""
    bundled = bundled_part(spec)
    if bundled is None:
        return None
    name, part = bundled
    line = f"{spec}: statements for {BUNDLED[name].toolchain}"
    if part.track:
        line += f"; answer track: {TRACKS[part.track]}"
    if part.track == "found" and (unchecked := _unchecked_answers(bundled_path(name))):
        line += (
            f"; WARNING: {unchecked} problems have answer definitions without a published "
            "answer bundled, so their found answers are not checked (a proof may restate "
            "the problem as its answer): their pass@k is an upper bound"
        )
    return line


@functools.lru_cache(maxsize=16)
def _unchecked_answers(path: Path) -> int:
    """Problems with an open answer definition (``:= sorry``) but no published answer."""
    return sum(
        1
        for p in load_jsonl(path)
        if not p.answers
        and re.search(r"^(noncomputable )?abbrev .*:= sorry$", p.formal_statement, re.M)
    )


def lean_version_refusal(spec: str, in_use: str | None, asked: str | None) -> str | None:
    """Why a bundled benchmark made for another Lean does not run (None: it runs).

    It runs on the Lean it targets, behind a custom REPL command (whose Lean is unknown), or
    when ``asked`` (``--lean-version``) names the Lean it targets.
    """
    bundled = bundled_part(spec)
    if bundled is None:
        return (
            None
            if asked is None
            else f"--lean-version applies to bundled benchmarks; {spec} is a file"
        )
    targets = BUNDLED[bundled[0]].lean_versions
    if asked is not None and asked not in targets:
        return f"--lean-version {asked}: {spec} targets Lean {', '.join(targets)}"
    if in_use is None or in_use in targets or asked is not None:
        return None
    return (
        f"{spec} targets Lean {', '.join(targets)} but this run uses {in_use}; pass "
        f"--lean-version {targets[0]} to run it anyway (statements that do not elaborate count "
        "as unsolved)"
    )


def lean_version_warning(spec: str, lean_version: str | None) -> str | None:
    """A warning when a bundled benchmark targets other Lean versions than the one in use."""
    bundled = bundled_part(spec)
    if bundled is None:
        return None
    targets = BUNDLED[bundled[0]].lean_versions
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


PROBLEM_FILE_LIMIT = 256 * 2**20
"""Bytes read at most from a problem file (/dev/zero given as one is refused, not read)."""


def read_limited(
    path: Path | str, limit: int = PROBLEM_FILE_LIMIT, what: str = "a problem file"
) -> bytes:
    """The bytes of ``path``, never more than ``limit`` + 1 read (/dev/zero included).
    Raises ``DataError`` when it is longer, ``OSError`` when it cannot be read."""
    with Path(path).open("rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise DataError(f"{path} is over the {limit}-byte limit for {what}")
    return data


def limited_lines(f: IO[bytes], limit: int, name: object) -> Iterator[bytes]:
    """The lines of ``f``, each read against ``limit`` bytes (``DataError`` naming the line)."""
    for number, line in enumerate(iter(lambda: f.readline(limit + 1), b""), start=1):
        if len(line) > limit:
            raise DataError(f"{name}:{number}: over the {limit}-byte limit for one line")
        yield line


def file_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(read_limited(path)).hexdigest()
