#!/usr/bin/env python3
"""Copy the Lean REPL's own test inputs and expected outputs out of a clone of
leanprover-community/repl at one commit, into ``tests/data/repl-<version>/``.

Usage: ``extract_repl_tests.py GIT_DIR COMMIT OUT_DIR`` (GIT_DIR may be a bare clone).
Only ``test/**/*.in`` and ``test/**/*.expected.out`` are copied, unchanged; a
``PROVENANCE.md`` listing the repository, the commit, its toolchain and every file's
path is written next to them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = "leanprover-community/repl"


def git(git_dir: str, *args: str) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True
    ).stdout


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    git_dir, commit, out = argv[0], argv[1], Path(argv[2])
    commit = git(git_dir, "rev-parse", commit).decode().strip()
    toolchain = git(git_dir, "show", f"{commit}:lean-toolchain").decode().strip()
    names = git(git_dir, "ls-tree", "-r", "--name-only", commit, "test").decode().splitlines()
    kept = sorted(n for n in names if n.endswith((".in", ".expected.out")))
    for name in kept:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(git(git_dir, "show", f"{commit}:{name}"))
    listing = "\n".join(f"- `{n}`" for n in kept)
    (out / "PROVENANCE.md").write_text(
        f"""# Lean REPL transcripts ({toolchain})

Real request/response transcripts of the Lean 4 REPL, taken unchanged from the
repository's own test suite by `scripts/extract_repl_tests.py`.

- repository: {REPO}
- commit: {commit}
- toolchain: {toolchain} (the commit's `lean-toolchain`)
- license: Apache-2.0 (the repository's LICENSE)

`test/NAME.in` holds the requests sent to the REPL's stdin (JSON objects separated by
blank lines), `test/NAME.expected.out` what the real REPL printed for them, in order;
`test/Mathlib/test/*` the same with `import Mathlib` loaded first. Inputs that name a
`.lean` file by path (file mode) are kept, but those sources are not.

These are what the REPL printed with the commit's own toolchain. A setup that re-pins the
REPL to another Lean (stepprover's default pins Lean v4.20.0-rc5) may print otherwise;
`docs/lean-evidence.md` says which `lean`-marked test settles that.

Files (each at the same path in the repository):

{listing}
"""
    )
    print(f"{len(kept)} files from {REPO}@{commit} ({toolchain}) into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
