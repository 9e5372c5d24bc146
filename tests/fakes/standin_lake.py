#!/usr/bin/env python3
"""A stand-in for ``lake``, for tests (NOT Lake): ``build <Module>`` writes a placeholder
``.lake/build/lib/lean/<Module>.olean`` (and appends the module to $STANDIN_COMPARATOR_LOG);
``env <cmd> ...`` runs the command with LEAN_PATH set to the package's build folder.
A challenge containing ``-- standin: broken`` fails."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "build":
        module = sys.argv[2]
        if "-- standin: broken" in Path(f"{module}.lean").read_text():
            print(f"error: ./././{module}.lean:1:0: unknown identifier", flush=True)
            sys.exit(1)
        build = Path(".lake") / "build" / "lib" / "lean"
        build.mkdir(parents=True, exist_ok=True)
        (build / f"{module}.olean").write_text("stand-in")
        Path("lake-manifest.json").write_text('{"version": "1.1.0", "packages": []}')
        if log := os.environ.get("STANDIN_COMPARATOR_LOG"):
            with open(log, "a") as handle:
                handle.write(module + "\n")
        return
    if len(sys.argv) >= 3 and sys.argv[1] == "env":
        # as `lake env` does, with the package's build folder on LEAN_PATH
        os.environ["LEAN_PATH"] = str(Path.cwd() / ".lake" / "build" / "lib" / "lean")
        os.execvp(sys.argv[2], sys.argv[2:])
    print(f"standin lake: unsupported arguments {sys.argv[1:]}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main()
