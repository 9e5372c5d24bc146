"""Run the prefilter over published miniF2F proof sets and say what it refuses, and why.

An honest published proof refused before Lean is a bug in the allow-lists (unless it
really uses something dangerous). The sets are not shipped; unpack them and pass the
folders:

    DeepSeek-Prover-V2:     github deepseek-ai/DeepSeek-Prover-V2, minif2f-solutions.zip
    Kimina-Prover-Preview:  github MoonshotAI/Kimina-Prover-Preview, minif2f_test_solved*.zip
    DSP+:                   github microsoft/DSP-Plus, minif2f-test-solution.zip

    python benchmarks/prefilter_published.py DIR [DIR ...] [--show 5]

Prints, per folder: proofs read, proofs refused, and the refusals counted by rule,
with a few examples (file:line). ``lakefile.lean`` files are skipped. Also counts the
commands, attributes and options the proofs use (the allow-lists' evidence).
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

from stepprover.lean.prefilter import prefilter
from stepprover.lean.source import name_components, scan, split_imports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--show", type=int, default=5, help="examples per rule")
    args = parser.parse_args()
    for folder in args.folders:
        files = sorted(p for p in folder.rglob("*.lean") if p.name != "lakefile.lean")
        refused: dict[str, list[str]] = collections.defaultdict(list)
        commands: collections.Counter[str] = collections.Counter()
        options: collections.Counter[str] = collections.Counter()
        attributes: collections.Counter[str] = collections.Counter()
        refused_files = 0
        native = 0  # pass the prefilter, then fail the axioms check (Lean.ofReduceBool)
        for path in files:
            source = split_imports(path.read_text(encoding="utf-8"))
            structure = scan(source.body)
            commands.update(c.keyword for c in structure.commands)
            attributes.update(a.name for c in structure.commands for a in c.attributes)
            tokens = structure.tokens
            native += any(t.text == "native_decide" for t in tokens)
            options.update(
                ".".join(name_components(tokens[i + 1].text))
                for i, t in enumerate(tokens[:-1])
                if t.text == "set_option"
            )
            findings = prefilter(
                source.body, line_offset=source.body_line_offset, imports=source.imports
            )
            if findings:
                refused_files += 1
            for f in findings:
                refused[f"`{f.rule}` {f.reason}"].append(f"{path.relative_to(folder)}:{f.line}")
        print(
            f"== {folder}: {len(files)} proofs, {refused_files} refused before Lean, "
            f"{native} use native_decide (left to Lean: its axiom fails them)"
        )
        print(f"   commands: {dict(commands.most_common())}")
        print(f"   options: {dict(options.most_common())}")
        print(f"   attributes: {dict(attributes.most_common())}")
        for rule, where in sorted(refused.items(), key=lambda kv: -len(kv[1])):
            print(f"   {len(where):4d}  {rule}   e.g. {', '.join(where[: args.show])}")


if __name__ == "__main__":
    main()
