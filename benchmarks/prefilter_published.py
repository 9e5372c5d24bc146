"""Plan published miniF2F proofs against their statements and say what is refused, and why.

An honest published proof refused before Lean is a bug in the verifier's rules, unless a
documented policy refuses it: meta code (the proof defines elaborators or macros, or names
Lean's meta API). ``native_decide`` is not refused before Lean; Lean's axioms check fails it
(``Lean.ofReduceBool``), and those proofs are counted apart. Each proof is planned as
``stepprover check --statement`` plans it (``verify.plan``), with the statement of the same
name from the bundled miniF2F (``minif2f.jsonl``, test and valid) as the statement.

The sets, as released (fetch the repositories with the search tool's ``fetch``, then pass
``--mirrors /work/.mirror``; a set whose repository is not there is reported unreachable):

    DeepSeek-Prover-V2      deepseek-ai/DeepSeek-Prover-V2 minif2f-solutions.zip
    Kimina-Prover-Preview   MoonshotAI/Kimina-Prover-Preview minif2f_test_solved.zip
    Kimina-Prover (0710)    MoonshotAI/Kimina-Prover-Preview minif2f_test_solved_filtered_0710.zip
    DSP+                    microsoft/DSP-Plus minif2f-test-solution.zip
    BFS-Prover-V2           nyc030325/BFS-Prover-V2 MiniF2F/ (prover/ and planner/)
    Seed-Prover             ByteDance-Seed/Seed-Prover SeedProver/MiniF2F.zip

    python benchmarks/prefilter_published.py --mirrors /work/.mirror [--show 3]
    python benchmarks/prefilter_published.py --quick    # the samples in tests/data, seconds

Prints, per set: proofs, proofs that reach Lean, refusals by policy (counted), and any
other refusal with examples. Exits 1 when a proof is refused by no documented policy.
"""

from __future__ import annotations

import argparse
import collections
import io
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from _repo import REPO

from stepprover.data.problems import Problem, bundled_path, load_jsonl
from stepprover.lean.verify import Plan, plan

ROOT = REPO
SAMPLES = ROOT / "tests/data/published-proofs"


@dataclass(frozen=True)
class ProofSet:
    name: str
    repo: str
    path: str
    """A zip file or a folder in the repository's newest snapshot."""


SETS = [
    ProofSet("DeepSeek-Prover-V2", "deepseek-ai/DeepSeek-Prover-V2", "minif2f-solutions.zip"),
    ProofSet(
        "Kimina-Prover-Preview", "MoonshotAI/Kimina-Prover-Preview", "minif2f_test_solved.zip"
    ),
    ProofSet(
        "Kimina-Prover (0710)",
        "MoonshotAI/Kimina-Prover-Preview",
        "minif2f_test_solved_filtered_0710.zip",
    ),
    ProofSet("DSP+", "microsoft/DSP-Plus", "minif2f-test-solution.zip"),
    ProofSet("BFS-Prover-V2", "nyc030325/BFS-Prover-V2", "MiniF2F"),
    ProofSet("Seed-Prover", "ByteDance-Seed/Seed-Prover", "SeedProver/MiniF2F.zip"),
]

# Refusal reasons that a documented policy gives (prefilter findings' reasons)
_META_CODE = (
    "names Lean's own meta API",
    "meta code",
    "defines a custom",
    "defines custom",
    "evaluates code",
    "runs arbitrary code",
)


def policy_of(reason: str) -> str | None:
    """The documented policy behind a refusal, or None (an honest proof refused: a bug)."""
    parts = [p for p in reason.split("; ") if p]
    if parts and all(any(m in p for m in _META_CODE) for p in parts):
        return "meta code"
    return None


def read_set(proof_set: ProofSet, mirrors: Path) -> dict[str, str] | str:
    """File name -> text of every ``.lean`` proof, or why the set cannot be read."""
    git = mirrors / proof_set.repo.replace("/", "+") / "repo"
    if not git.exists():
        return f"unreachable: {proof_set.repo} not fetched under {mirrors}"
    if proof_set.path.endswith(".zip"):
        blob = subprocess.run(
            ["git", "-C", str(git), "show", f"HEAD:{proof_set.path}"],
            capture_output=True,
            check=False,
        )
        if blob.returncode:
            return f"unreachable: {proof_set.path} not in {proof_set.repo}"
        with zipfile.ZipFile(io.BytesIO(blob.stdout)) as archive:
            return {
                name: archive.read(name).decode("utf-8")
                for name in archive.namelist()
                if name.endswith(".lean")
                and not name.endswith("lakefile.lean")
                and "__MACOSX" not in name
            }
    listing = subprocess.run(
        ["git", "-C", str(git), "ls-tree", "-r", "--name-only", "HEAD", proof_set.path],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return {
        name: subprocess.run(
            ["git", "-C", str(git), "show", f"HEAD:{name}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for name in listing
        if name.endswith(".lean")
    }


def statements() -> dict[str, Problem]:
    return {p.name: p for p in load_jsonl(bundled_path("minif2f"))}


@dataclass
class Tally:
    proofs: int = 0
    reach_lean: int = 0
    native_decide: int = 0
    no_statement: int = 0

    def __post_init__(self) -> None:
        self.by_policy: collections.Counter[str] = collections.Counter()
        self.unexplained: dict[str, list[str]] = collections.defaultdict(list)


def measure(proofs: dict[str, str], problems: dict[str, Problem]) -> Tally:
    tally = Tally()
    for name, text in sorted(proofs.items()):
        tally.proofs += 1
        stem = Path(name).stem.split("__")[-1]
        problem = problems.get(stem)
        if problem is None:
            tally.no_statement += 1  # planned without a statement (today's `check` rules)
        planned = plan(text, problem.statement_text if problem else None)
        if isinstance(planned, Plan):
            tally.reach_lean += 1
            tally.native_decide += "native_decide" in planned.command
        elif policy := policy_of(planned):
            tally.by_policy[policy] += 1
        else:
            tally.unexplained[planned[:160]].append(name)
    return tally


def report(label: str, tally: Tally, show: int) -> None:
    refused = sum(tally.by_policy.values()) + sum(len(v) for v in tally.unexplained.values())
    print(
        f"== {label}: {tally.proofs} proofs, {tally.reach_lean} reach Lean, {refused} refused "
        f"({tally.native_decide} of those reaching Lean use native_decide: its axiom fails them; "
        f"{tally.no_statement} without a statement of that name, checked without one)"
    )
    for policy, count in tally.by_policy.most_common():
        print(f"   {count:4d}  refused by policy: {policy}")
    for reason, where in sorted(tally.unexplained.items(), key=lambda kv: -len(kv[1])):
        print(f"   {len(where):4d}  REFUSED, NO POLICY: {reason}   e.g. {', '.join(where[:show])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirrors", type=Path, help="folder of fetched snapshots (OWNER+NAME)")
    parser.add_argument("--quick", action="store_true", help=f"only the samples in {SAMPLES}")
    parser.add_argument("--show", type=int, default=3, help="examples per unexplained refusal")
    args = parser.parse_args()
    if not args.quick and args.mirrors is None:
        parser.error("give --mirrors DIR (the fetched repositories) or --quick")
    problems = statements()
    total = Tally()
    sets: list[tuple[str, dict[str, str] | str]]
    if args.quick:
        samples = {p.name: p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.lean"))}
        sets = [(f"samples ({SAMPLES.relative_to(ROOT)})", samples)]
    else:
        sets = [(f"{s.name} ({s.repo} {s.path})", read_set(s, args.mirrors)) for s in SETS]
    for label, proofs in sets:
        if isinstance(proofs, str):
            print(f"== {label}: {proofs}")
            continue
        tally = measure(proofs, problems)
        report(label, tally, args.show)
        total.proofs += tally.proofs
        total.reach_lean += tally.reach_lean
        total.native_decide += tally.native_decide
        total.by_policy.update(tally.by_policy)
        for reason, where in tally.unexplained.items():
            total.unexplained[reason] += where
    unexplained = sum(len(v) for v in total.unexplained.values())
    print(
        f"== all: {total.proofs} proofs, {total.reach_lean} reach Lean, "
        f"refused by policy {dict(total.by_policy)}, refused by no policy {unexplained}"
    )
    sys.exit(1 if unexplained else 0)


if __name__ == "__main__":
    main()
