"""Imported first by each benchmark script: puts this checkout on ``sys.path``.

``src`` so the benchmark measures the code beside it (not another installed copy), and the
repository root for ``tests.fakes`` (the stand-in REPL, the tiny tokenizer).
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "src"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
