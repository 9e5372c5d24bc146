"""Derive the prefilter's deny-lists from Lean's and Mathlib's sources.

Writes ``src/stepprover/lean/derived_lists.json``: every keyword that starts a command
(where Lean's parser may start one), and every syntax whose elaborator evaluates a user
term, tactic or conv block as code (``run_tac``, ``eval%``...), each with the source file
that declares it. The prefilter refuses both kinds wherever they appear, unless the
allow-list holds the command (``allowlists.COMMANDS``).

Sources: ``scripts/lean_sources.json`` names them, with their revisions:

- ``snapshots``: whole repositories (Batteries, Aesop, Qq, ProofWidgets, Plausible), read
  from the git directories the search tool's ``fetch`` brings (``--mirrors``, holding
  ``OWNER+NAME/repo``): every ``.lean`` file of the revision, test folders excepted;
- ``excerpts``: declarations read with the search tool's ``read_file`` from repositories
  too big to fetch (leanprover/lean4, leanprover-community/mathlib4), saved under
  ``--excerpts`` by their paths in the repository (``lean4/src/...``, ``mathlib4/Mathlib/...``).

What is read, by pattern (Lean's own declaration forms):

- command keywords: the first atom of ``syntax``/``elab``/``macro``/``notation`` declarations
  of category ``command``, and of ``leading_parser`` definitions tagged
  ``builtin_command_parser`` (Lean's ``src/Lean/Parser/Command.lean``);
- code-evaluating syntax: a syntax (any category) whose elaborator, in the same file, calls
  ``evalTerm``, ``evalExpr``, ``evalConst``, ``evalConstCheck``, ``evalDecl``, or
  ``evalModule``/``evalWidgetInstance`` (widgets) (an
  ``elab … => …`` body, an ``elab_rules`` arm, or an ``@[tactic N]``/``@[term_elab N]``/
  ``@[command_elab N]`` definition and the syntax named ``N``), and every macro whose
  expansion uses such syntax (to a fixpoint: ``run_conv`` expands to ``run_tac``).

    python scripts/derive_lean_lists.py --mirrors /work/.mirror --excerpts DIR

Each entry names its file as ``REPO:PATH``; ``sources`` in the output holds the revisions.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src/stepprover/lean/derived_lists.json"
_TEST_DIRS = re.compile(r"(^|/)(tests?|[A-Za-z]*Test|scripts|benchmarks?|doc|examples?)(/|$)")
_EVAL = re.compile(
    r"\b(evalTerm|evalExpr|evalConst|evalConstCheck|evalDecl|evalModule|evalWidgetInstance)\b"
)
_CATEGORY = r"(command|tactic|term|conv|doElem)"
_DECL = re.compile(
    r"^(?:@\[[^\]]*\]\s*)*(?:(?:private|protected|scoped|local|noncomputable|unsafe)\s+)*"
    r"(syntax|elab|macro|notation|notation3|infix|infixl|infixr|prefix|postfix)\b"
)
_NAME = re.compile(r"\(name\s*:=\s*([^\s)]+)\)")
_ATOM = re.compile(r'"((?:[^"\\]|\\.)+)"')
_SYNTAX_CAT = re.compile(r":\s*" + _CATEGORY + r"$")
_ELAB_ATTR = re.compile(r"@\[[^\]]*\b(?:builtin_)?(?:tactic|term_elab|command_elab)\s+([^\s,\]]+)")
_QUOTED_HEAD = re.compile(r"`\((?:" + _CATEGORY + r"\s*\|)?\s*([^\s$()]+)")
_BUILTIN_PARSER = re.compile(
    r"@\[[^\]]*\bbuiltin_command_parser\b[^\]]*\]\s*def\s+(\S+)\s*:=\s*leading_parser"
)


@dataclass(frozen=True)
class Source:
    name: str
    repo: str
    revision: str
    location: Path

    def files(self) -> dict[str, str]:
        """Path in the repository -> text, for every ``.lean`` file read."""
        if (self.location / "HEAD").exists() or self.location.suffix == ".git":
            listing = _git(self.location, "ls-tree", "-r", "--name-only", self.revision)
            paths = [p for p in listing.splitlines() if p.endswith(".lean")]
            return {
                p: _git(self.location, "show", f"{self.revision}:{p}")
                for p in paths
                if not _TEST_DIRS.search(p)
            }
        return {
            str(p.relative_to(self.location)): p.read_text(encoding="utf-8")
            for p in sorted(self.location.rglob("*.lean"))
        }


@dataclass(frozen=True)
class Excerpt(Source):
    """One file's declarations, saved from ``read_file`` under ``location`` by its path."""

    path: str = ""

    def files(self) -> dict[str, str]:
        return {self.path: (self.location / self.path).read_text(encoding="utf-8")}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def _strip_comments(text: str) -> str:
    """Comments and doc comments removed (nested block comments too), strings kept."""
    out: list[str] = []
    i, depth, n = 0, 0, len(text)
    while i < n:
        if text.startswith("/-", i):
            depth += 1
            i += 2
        elif depth and text.startswith("-/", i):
            depth -= 1
            i += 2
        elif depth:
            out.append("\n" if text[i] == "\n" else "")
            i += 1
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text[i] == '"':
            end = i + 1
            while end < n and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            out.append(text[i : end + 1])
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def chunks(text: str) -> list[str]:
    """Top-level declarations: a line at column 0 and the indented lines after it."""
    result: list[list[str]] = []
    for line in _strip_comments(text).splitlines():
        if not line.strip():
            continue
        attribute_only = bool(result) and re.fullmatch(r"(@\[[^\]]*\]\s*)+", " ".join(result[-1]))
        arm = line.startswith("|")  # a match arm at column 0 continues its definition
        if (not line[0].isspace() and not attribute_only and not arm) or not result:
            result.append([line])
        else:
            result[-1].append(line)
    return [" ".join(part.strip() for part in chunk) for chunk in result]


@dataclass
class Syntax:
    keyword: str
    category: str
    kind: str | None
    file: str
    chunk: str


def _before_arrow(text: str) -> str:
    """``text`` up to its first ``=>`` outside string atoms (``" => "`` is an atom)."""
    quoted = False
    for i, c in enumerate(text):
        if c == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and text.startswith("=>", i):
            return text[:i]
    return text


def _after_arrow(text: str) -> str:
    head = _before_arrow(text)
    return text[len(head) + 2 :] if len(head) < len(text) else ""


def _first_atom(text: str) -> str | None:
    m = _ATOM.search(text)
    return m.group(1).strip() if m else None


def read_syntax(chunk: str, file: str) -> Syntax | None:
    m = _DECL.match(chunk)
    if not m:
        return None
    head = _before_arrow(chunk).rstrip()
    cat = _SYNTAX_CAT.search(head)
    if cat is None:
        return None
    keyword = _first_atom(head[: cat.start()])
    if not keyword:
        return None
    name = _NAME.search(head)
    return Syntax(keyword, cat.group(1), name.group(1) if name else None, file, chunk)


def derive(sources: list[Source]) -> dict[str, object]:
    commands: dict[str, dict[str, str]] = {}
    syntaxes: list[Syntax] = []
    elab_chunks: list[tuple[str, str]] = []  # (file, chunk) of elaborators and elab_rules
    for source in sources:
        for path, text in source.files().items():
            where = f"{source.repo}:{path}"
            for chunk in chunks(text):
                syntax = read_syntax(chunk, where)
                if syntax is not None:
                    syntaxes.append(syntax)
                    if syntax.category == "command":
                        commands.setdefault(syntax.keyword, {"file": where})
                if m := _BUILTIN_PARSER.search(chunk):
                    atom = _first_atom(chunk[m.end() :])
                    if atom:
                        commands.setdefault(atom, {"file": where})
                        syntaxes.append(Syntax(atom, "command", m.group(1), where, chunk))
                if _ELAB_ATTR.search(chunk) or chunk.startswith(("elab_rules", "macro_rules")):
                    elab_chunks.append((where, chunk))
    evaluating: dict[str, dict[str, str]] = {}
    by_kind: dict[str, list[Syntax]] = {}
    for s in syntaxes:
        if s.kind:
            by_kind.setdefault(s.kind.split(".")[-1].strip("«»"), []).append(s)
    for s in syntaxes:
        body = _after_arrow(s.chunk)
        if s.chunk.lstrip("@[]").find("elab") >= 0 and _EVAL.search(body):
            evaluating.setdefault(s.keyword, {"file": s.file, "why": "its elaborator evaluates"})
    for where, chunk in elab_chunks:
        if not _EVAL.search(chunk):
            continue
        if m := _ELAB_ATTR.search(chunk):
            for s in by_kind.get(m.group(1).split(".")[-1].strip("«»"), []):
                if s.file.split(":")[0] == where.split(":")[0]:
                    evaluating.setdefault(
                        s.keyword, {"file": where, "why": "its elaborator evaluates"}
                    )
        for q in _QUOTED_HEAD.finditer(chunk):
            if chunk.startswith("elab_rules"):
                evaluating.setdefault(
                    q.group(2), {"file": where, "why": "its elaborator evaluates"}
                )
    # macros whose expansion uses code-evaluating syntax evaluate code too
    changed = True
    while changed:
        changed = False
        for s in syntaxes:
            expansion = _after_arrow(s.chunk)
            if s.keyword in evaluating or not expansion:
                continue
            for used in list(evaluating):
                if re.search(r"(?<![\w.])" + re.escape(used) + r"(?![\w])", expansion):
                    evaluating[s.keyword] = {"file": s.file, "why": f"expands to {used}"}
                    changed = True
                    break
    return {
        "sources": [
            {"repo": s.repo, "revision": s.revision}
            | ({"path": s.path} if isinstance(s, Excerpt) else {})
            for s in sources
        ],
        "commands": dict(sorted(commands.items())),
        "code_evaluating": dict(sorted(evaluating.items())),
    }


MANIFEST = Path(__file__).resolve().parent / "lean_sources.json"


def sources_from(manifest: Path, mirrors: Path, excerpts: Path) -> list[Source]:
    data = json.loads(manifest.read_text(encoding="utf-8"))
    sources = [
        Source(s["repo"], s["repo"], s["commit"], mirrors / s["repo"].replace("/", "+") / "repo")
        for s in data["snapshots"]
    ]
    for e in data["excerpts"]:
        short = e["repo"].split("/")[1]
        sources.append(Excerpt(e["repo"], e["repo"], e["commit"], excerpts / short, e["path"]))
    missing = [str(s.location) for s in sources if not s.location.exists()]
    if missing:
        raise SystemExit(f"sources not found (fetch them first): {', '.join(missing)}")
    return sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--mirrors", type=Path, required=True)
    parser.add_argument("--excerpts", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    data = derive(sources_from(args.manifest, args.mirrors, args.excerpts))
    args.out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    commands, evaluating = data["commands"], data["code_evaluating"]
    assert isinstance(commands, dict) and isinstance(evaluating, dict)
    print(
        f"{len(commands)} command keywords, {len(evaluating)} code-evaluating syntaxes "
        f"-> {args.out}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
