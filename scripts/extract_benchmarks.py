#!/usr/bin/env python3
"""Write the bundled PutnamBench, CombiBench and ProofNet files from git checkouts of their
repositories, at the commits below (src/stepprover/data/benchmarks/PROVENANCE.md).

Usage: scripts/extract_benchmarks.py --putnambench GIT_DIR --combibench GIT_DIR
           --deepseek-prover-v1.5 GIT_DIR [--out src/stepprover/data/benchmarks]

Each GIT_DIR is a clone (bare or not) holding the commit named here; files are read with
``git show COMMIT:PATH``, so the checkout's work tree does not matter.

PutnamBench and CombiBench ship one Lean file a problem. A record keeps the file's text as
published, split in two: ``header`` (the leading import, open and set_option lines) and
``formal_statement`` (the rest, up to the end of the problem's theorem), where the theorem's
final ``:= sorry`` (or ``:= by sorry``) becomes ``:= by`` (what a proof continues). An
answer definition ``abbrev NAME : TYPE := sorry`` followed by a comment ``-- ANSWER``
(PutnamBench's convention) is recorded in ``answers``, as written in the comment.

ProofNet is rahul3613/ProofNet-lean4's ``proofnet_lean4.jsonl`` (Lean 4, Mathlib v4.20.0),
each problem given the split of ProofNet's own ``benchmark/{valid,test}.jsonl`` (ids
``BOOK|NAME``; the port names it ``BOOK_NAME``, dashes as underscores); the port's 3
problems in neither split are left out. Its headers end with ``noncomputable section``, a
section no statement closes (and which only affects definitions); that line is left out.
Each statement is taken from the port's Lean file (``formal/BOOK.lean``), the block the
jsonl row was cut from: the port's script ends a statement at its first ``:=``, which in two
problems is an optional argument's (``(s := …)``); the others agree with the jsonl.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

PUTNAMBENCH = ("trishullab/PutnamBench", "3c9b9268ebd132d482938b8e9d242dd71fc1ebc0", "lean4/src")
COMBIBENCH = (
    "MoonshotAI/CombiBench",
    "84063de0347b3c3abfd4bf724b040dfb2f06dcdb",
    "lean/CombiBench",
)
PROOFNET_LEAN4 = (
    "rahul3613/ProofNet-lean4",
    "6deae98b38954dadf732746d023e8be65c56f246",
    "proofnet_lean4.jsonl",
)
PROOFNET = ("zhangir-azerbayev/ProofNet", "509ad79710ed4f46ff5c282ed5640c1aa9ac3f30", "benchmark")

_HEADER_LINE = re.compile(r"^(import |open |set_option |\s*$)")
_ANSWER = re.compile(r"^(?:noncomputable )?abbrev (\S+) : .* := sorry\n--\s?(.+)$", re.MULTILINE)
_FINAL_SORRY = re.compile(r":=\s*(?:by\s+)?sorry\s*$")
_SORRY = re.compile(r":=\s*(?:by\s+)?sorry\b")


def git(git_dir: Path, *args: str) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True
    ).stdout


def lean_files(git_dir: Path, commit: str, folder: str) -> dict[str, str]:
    listing = git(git_dir, "ls-tree", "--name-only", f"{commit}:{folder}").decode().split()
    return {
        name[: -len(".lean")]: git(git_dir, "show", f"{commit}:{folder}/{name}").decode("utf-8")
        for name in sorted(listing)
        if name.endswith(".lean")
    }


def record(name: str, text: str) -> dict[str, object]:
    lines = text.splitlines(keepends=True)
    cut = 0
    while cut < len(lines) and _HEADER_LINE.match(lines[cut]):
        cut += 1
    header, rest = "".join(lines[:cut]), "".join(lines[cut:])
    # The problem's theorem is the one named after the file, else the file's last theorem; its
    # first `:= sorry` ends the statement (CombiBench's imo_2010_p5.lean carries an unrelated
    # theorem after it, which is left out and reported).
    own = re.search(rf"^(theorem|lemma) {re.escape(name)}\b", rest, re.MULTILINE)
    final = _SORRY.search(rest, own.end()) if own else _FINAL_SORRY.search(rest)
    if final is None:
        raise SystemExit(f"{name}: the theorem does not end with `:= sorry`")
    if rest[final.end() :].strip():
        print(
            f"{name}: left out after the theorem: {rest[final.end() :].strip()[:60]!r}…",
            file=sys.stderr,
        )
    statement = rest[: final.start()] + ":= by\n"
    out: dict[str, object] = {"name": name, "header": header, "formal_statement": statement}
    answers = [{"name": m[1], "value": m[2].strip()} for m in _ANSWER.finditer(statement)]
    if answers:
        out["answers"] = answers
    return out


def proofnet(port_dir: Path, proofnet_dir: Path) -> list[dict[str, object]]:
    _, commit, folder = PROOFNET
    split = {}
    for name in ("valid", "test"):
        for line in git(proofnet_dir, "show", f"{commit}:{folder}/{name}.jsonl").splitlines():
            book, _, problem = json.loads(line)["id"].partition("|")
            split[book.replace("-", "_") + "_" + problem] = name
    _, commit, path = PROOFNET_LEAN4
    records = []
    for line in git(port_dir, "show", f"{commit}:{path}").decode("utf-8").splitlines():
        row = json.loads(line)
        if row["name"] not in split:
            print(f"{row['name']}: in no ProofNet split, left out", file=sys.stderr)
            continue
        statement = _port_statement(port_dir, commit, row)
        records.append(
            {
                "name": row["name"],
                "split": split[row["name"]],
                "header": row["header"].replace("noncomputable section\n", "") + "\n",
                "formal_statement": statement,
            }
        )
    return records


def _port_statement(port_dir: Path, commit: str, row: dict[str, str]) -> str:
    """The row's statement ending ``:= by``, from the port's Lean file (``formal/SOURCE``)
    when the row's text differs from it: the port's script cuts a statement at its first
    ``:=``, which for an optional argument (``(s := …)``) is inside the binders."""
    final = _FINAL_SORRY.search(row["formal_statement"])
    if final is None:
        raise SystemExit(f"{row['name']}: the theorem does not end with `:= sorry`")
    statement = row["formal_statement"][: final.start()] + ":= by\n"
    keyword, name = row["formal_statement"].split()[:2]
    original = name.removeprefix(row["source"].removesuffix(".lean").replace("-", "_") + "_")
    source = git(port_dir, "show", f"{commit}:formal/{row['source']}").decode("utf-8")
    start = re.search(rf"^{keyword} {re.escape(original)}\b", source, re.MULTILINE)
    if start is None:
        raise SystemExit(f"{row['name']}: not in formal/{row['source']}")
    block = source[start.start() :].split("\n\n", 1)[0]
    end = _FINAL_SORRY.search(block)
    if end is None:
        raise SystemExit(f"{row['name']}: its block in formal/{row['source']} has no `:= sorry`")
    published = block[: end.start()].replace(original, name, 1) + ":= by\n"
    if published != statement:
        print(
            f"{row['name']}: the port's jsonl cuts the statement; taken from formal/"
            f"{row['source']}",
            file=sys.stderr,
        )
    return published


def write_jsonl(path: Path, records: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{path}: {len(records)} problems", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--putnambench", type=Path, required=True)
    parser.add_argument("--combibench", type=Path, required=True)
    parser.add_argument("--proofnet-lean4", type=Path, required=True)
    parser.add_argument("--proofnet", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("src/stepprover/data/benchmarks"))
    args = parser.parse_args()

    _, commit, folder = PUTNAMBENCH
    putnam = [record(n, t) for n, t in lean_files(args.putnambench, commit, folder).items()]
    write_jsonl(args.out / "putnambench.jsonl", putnam)
    _, commit, folder = COMBIBENCH
    combi = [record(n, t) for n, t in lean_files(args.combibench, commit, folder).items()]
    write_jsonl(args.out / "combibench.jsonl", combi)
    write_jsonl(args.out / "proofnet.jsonl", proofnet(args.proofnet_lean4, args.proofnet))
    print(f"putnambench: {sum('answers' in r for r in putnam)} with answers", file=sys.stderr)


if __name__ == "__main__":
    main()
