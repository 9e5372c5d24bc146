"""Extract the token table (every atom a syntax declaration adds) from Lean sources.

Lean's tokenizer takes the longest token of its table first (``tokenFnAux``,
src/Lean/Parser/Basic.lean), so the prefilter's lexer needs that table. This
script reads ``.lean`` files from a git mirror at a fixed revision (``--git DIR
--rev REV``) or from a folder of files read one by one (``--dir DIR``) and
writes one token a line with a header naming the source and revision:

    python scripts/extract_lean_tokens.py --git MIRROR --rev v4.20.0 --label batteries \\
        --out src/stepprover/lean/data/tokens-batteries.txt

What counts as a token: the string literals of the head of a syntax-declaring
command (``syntax``, ``macro``, ``elab``, ``notation``, ``notation3``, ``infix``,
``infixl``, ``infixr``, ``prefix``, ``postfix``, ``binder_predicate``,
``syntax_cat``-free heads up to their ``=>``/``:=``), trimmed as Lean's
``symbol`` trims them; not those after ``&`` (``nonReservedSymbol``). In the
builtin parser files (``src/Lean/Parser/``) every literal after ``leading_parser``,
``trailing_parser``, ``symbol``, ``unicodeSymbol`` or ``>>`` counts. Literals with
inner whitespace are left out (Lean's atoms never hold one; those are messages).
Each line is ``TOKEN<TAB>FLAGS<TAB>FILE``: flags ``scoped`` or ``local`` where the
declaration has that modifier (active only inside its namespace or file), else ``-``.

Over-inclusion is safe for the prefilter (an extra token only makes more text
ambiguous, hence refused); a missing token is what the table's users must assume
possible, which is why the prefilter refuses an opener touching an unknown symbol.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

HEADS = (
    "syntax",
    "macro",
    "elab",
    "notation",
    "notation3",
    "infix",
    "infixl",
    "infixr",
    "prefix",
    "postfix",
    "binder_predicate",
)
# A string literal (with Lean's escapes) or a comment, so literals inside comments are skipped.
_LEXEME = re.compile(
    r'"(?:[^"\\]|\\.)*"|--[^\n]*|/-.*?-/|«[^»]*»|[A-Za-z_][A-Za-z0-9_.!?\']*|=>|:=|>>|&|\n|.',
    re.DOTALL,
)
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\'": "'", "\\n": "\n", "\\t": "\t", "\\r": "\r"}
_PARSER_MARKERS = frozenset(
    {"leading_parser", "trailing_parser", "symbol", "unicodeSymbol", ">>", "<|>"}
)


def _unescape(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\x[0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}|\\.", _decode, body)


def _decode(m: re.Match[str]) -> str:
    text = m.group(0)
    if text.startswith(("\\x", "\\u")):
        return chr(int(text[2:], 16))
    return _UNESCAPE.get(text, text[1:])


def tokens_of(path: str, text: str) -> Iterator[tuple[str, str]]:
    """``(token, flags)`` for every atom declared in one file."""
    builtin = "/Lean/Parser/" in "/" + path
    lexemes = [m.group(0) for m in _LEXEME.finditer(text)]
    head: str | None = None  # the syntax keyword of the command being read
    flags = "-"
    line_start = True
    modifiers: list[str] = []
    prev = ""
    depth = 0  # brackets inside the head: `(name := x)` does not end it
    for lex in lexemes:
        if lex == "\n":
            line_start = True
            continue
        if lex.isspace():
            line_start = False  # indented: a continuation line, not a new command
            continue
        if lex.startswith(("--", "/-")):
            continue
        if lex in ("(", "[", "{"):
            depth += 1
        elif lex in (")", "]", "}"):
            depth = max(0, depth - 1)
        if line_start and head is not None and lex[0].isalpha() and lex not in HEADS:
            head = None  # a new command at column 0 ends the previous head
        if lex in HEADS or any(lex.startswith(h + ":") for h in HEADS):
            head = lex
            depth = 0
            flags = (
                "scoped"
                if "scoped" in modifiers or any(m.startswith("scoped[") for m in modifiers)
                else ("local" if "local" in modifiers else "-")
            )
        elif lex in ("=>", ":=") and head is not None and depth == 0:
            head = None
        elif lex.startswith('"') and len(lex) >= 2 and lex.endswith('"'):
            inside = head is not None or (builtin and prev in _PARSER_MARKERS | {"(", ","})
            if inside and prev != "&":
                token = _unescape(lex).strip()
                if token and not any(c.isspace() for c in token):
                    yield token, flags if head is not None else "-"
        if line_start:
            modifiers = []
        if lex in ("scoped", "local") or lex.startswith("scoped"):
            modifiers.append(lex)
        line_start = False
        prev = lex


def _git_files(git_dir: str, rev: str) -> Iterator[tuple[str, str]]:
    names = subprocess.run(
        ["git", "-C", git_dir, "ls-tree", "-r", "--name-only", rev],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    for name in names:
        if name.endswith(".lean"):
            blob = subprocess.run(
                ["git", "-C", git_dir, "show", f"{rev}:{name}"],
                check=True,
                capture_output=True,
            ).stdout
            yield name, blob.decode("utf-8", errors="replace")


def _dir_files(root: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(root.rglob("*.lean")):
        yield str(path.relative_to(root)), path.read_text(encoding="utf-8", errors="replace")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--git", help="a git directory (mirror) to read at --rev")
    source.add_argument("--dir", type=Path, help="a folder of .lean files read one by one")
    parser.add_argument("--rev", help="revision (tag or commit) for --git")
    parser.add_argument("--label", required=True, help="what the sources are (repository)")
    parser.add_argument("--provenance", default="", help="extra provenance line for the header")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.git:
        if not args.rev:
            sys.exit("--git needs --rev")
        commit = subprocess.run(
            ["git", "-C", args.git, "rev-parse", f"{args.rev}^{{commit}}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        files = _git_files(args.git, args.rev)
        where = f"{args.label} {args.rev} (commit {commit})"
    else:
        files = _dir_files(args.dir)
        where = f"{args.label} (files under {args.dir})"
    found: dict[str, tuple[str, str]] = {}
    count = 0
    for name, text in files:
        count += 1
        for token, flags in tokens_of(name, text):
            old = found.get(token)
            # a token declared unscoped anywhere is active wherever that file is imported
            if old is None or (old[0] != "-" and flags == "-"):
                found[token] = (flags, name)
    lines = [
        f"# Lean tokens of {where}: {len(found)} tokens from {count} .lean files",
        "# extracted by scripts/extract_lean_tokens.py; TOKEN<TAB>FLAGS<TAB>FILE",
    ]
    if args.provenance:
        lines.append(f"# {args.provenance}")
    lines += [f"{t}\t{f}\t{n}" for t, (f, n) in sorted(found.items())]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{args.out}: {len(found)} tokens from {count} files")


if __name__ == "__main__":
    main()
