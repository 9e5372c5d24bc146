"""How run-v0/ was made: `stepprover eval` of the code at commit 3219b4c (before the run-setup
change), scripted model, stand-in REPL (a test program, not Lean), 3 problems x 2 samples.

Kept so the fixture can be remade with an old checkout; the tests never run it. Usage:
    PYTHONPATH=OLD/src:OLD python tests/eval/data/make_run_v0.py OLD OUT
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

# The old checkout's tests, through PYTHONPATH (see the usage above).
from tests.eval.test_store_and_runner import ANSWER, SCRIPT, SKETCH, problems
from tests.fakes.tiny_model import build_tokenizer

root, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()

shutil.rmtree(out, ignore_errors=True)
out.mkdir(parents=True)
build_tokenizer().save_pretrained(out / "tok")
(out / "turns.json").write_text(json.dumps([SKETCH, ANSWER]))
(out / "script.json").write_text(json.dumps(SCRIPT))
(out / "bench.jsonl").write_text(
    "".join(p.model_dump_json() + "\n" for p in problems(["a1", "a2", "bad1"]))
)
repl = " ".join(
    [
        sys.executable,
        str(root / "tests/fakes/standin_repl.py"),
        "--script",
        str(out / "script.json"),
    ]
)
command = [
    sys.executable,
    "-m",
    "stepprover.cli",
    "eval",
    "--model",
    "turns.json",
    "--backend",
    "scripted",
    "--tokenizer",
    "tok",
    "--benchmark",
    "bench.jsonl:test",
    "--samples",
    "2",
    "--workers",
    "1",
    "--concurrency",
    "2",
    "--run-dir",
    "run",
    "--repl",
    repl,
]
subprocess.run(command, cwd=out, check=True)
