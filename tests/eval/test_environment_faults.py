"""A broken environment is an outage of the run, never a property of a problem: a Lean
whose `import Mathlib` fails, a verification service that answers HTML (stand-in REPL)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.conftest import standin_command
from tests.eval.test_eval_cli import eval_args, invoke, preflight_rows, rows, setup
from tests.eval.test_store_and_runner import SCRIPT

__all__ = ["setup"]  # the fixture, used by name

# What Lean says when a module's package is not in its search path: `Lean.findOLean`
# (src/Lean/Util/Path.lean at v4.20.0-rc5) throws "unknown module prefix '{pkg}'\n\nNo
# directory '{pkg}' or file '{pkg}.olean' in the search path entries:\n{sp}"; the REPL
# answers the import's command with it as an error message.
NO_MATHLIB = {
    "messages": [
        {
            "severity": "error",
            "pos": {"line": 1, "column": 0},
            "endPos": None,
            "data": "unknown module prefix 'Mathlib'\n\nNo directory 'Mathlib' or file "
            "'Mathlib.olean' in the search path entries:\n/lean/lib/lean",
        }
    ]
}


def test_a_lean_that_cannot_import_mathlib_is_an_outage_and_a_fixed_one_finishes_the_run(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    lean = tmp_path / "lean.json"  # one REPL command line; what it answers changes
    lean.write_text(json.dumps([["import Mathlib", NO_MATHLIB], *SCRIPT]))
    args = eval_args(setup, "--limit", "2")
    args[args.index(setup["repl"])] = " ".join(standin_command("--script", str(lean)))
    broken = invoke(args)
    said = " ".join(broken.output.split())
    assert broken.exit_code == 3, said
    assert "Lean cannot load the imports" in said and "unknown module prefix 'Mathlib'" in said
    assert "rejected by Lean" not in said and "pass@1 (" not in said, said
    assert preflight_rows(setup["run"]) == {} and rows(setup["run"]) == {}, "nothing stored"

    lean.write_text(json.dumps(SCRIPT))  # the environment is fixed: the same command finishes
    fixed = invoke(args)
    assert fixed.exit_code == 0, fixed.output
    assert preflight_rows(setup["run"]) == {"a1": 1, "a2": 1}
    assert "pass@1 (mean of 2 samples, over all 2 problems): 100.0%" in fixed.output


@contextmanager
def html_service() -> Iterator[str]:
    """Answers the health check as the service does, and every POST with an HTML page (a
    proxy in front of a service that is down)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            self._answer("application/json", b'{"status": "ok"}')

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self._answer("text/html", b"<html><body>502 Bad Gateway</body></html>")

        def _answer(self, kind: str, data: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_service_answering_html_says_why_samples_did_not_run(setup: dict[str, Any]) -> None:
    with html_service() as url:
        args = eval_args(setup, "--limit", "1", "--lean-url", url)
        args = [a for a in args if a not in ("--repl", setup["repl"])]
        result = invoke(args)
    said = " ".join(result.output.split())
    assert result.exit_code == 3, said
    assert "2 samples not run" in said
    assert (
        f"the last: Lean (pre-flight): RemoteError: {url}/api/run answered 200 without JSON" in said
    )
    assert preflight_rows(setup["run"]) == {}
