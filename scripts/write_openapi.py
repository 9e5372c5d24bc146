"""Write the verification service's OpenAPI schema into the documentation site.

``python scripts/write_openapi.py`` writes ``docs/openapi.json`` from the FastAPI app
(``stepprover.server.create_app``); ``--check`` writes nothing and exits 1 when the file
differs from what the app serves (tests/test_docs.py runs it). The schema does not depend
on the service's settings, so any settings build it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stepprover.server import ServiceSettings, create_app

TARGET = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"


def schema_text() -> str:
    """The schema as the app serves it at ``/openapi.json``, indented, one trailing newline."""
    # A REPL command, so that building the settings looks for no installed Lean.
    app = create_app(ServiceSettings(repl_command="repl"))
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args()
    text = schema_text()
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is stale: run python scripts/write_openapi.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
