"""Bad input gets one clear line (or a clear verdict) and exit status 2, never a traceback
or a hang; help texts say what they mean. The REPL is the stand-in, not Lean."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rich.highlighter
from typer.testing import CliRunner

from stepprover.cli import app
from stepprover.cli.progress import format_rate
from stepprover.data.problems import bundled_benchmarks
from stepprover.lean.toolchain import LeanSetup
from stepprover.provers import PROVER_STYLES
from tests.conftest import standin_command

runner = CliRunner()
AXIOMS = {
    "severity": "info",
    "pos": {"line": -2, "column": 0},
    "endPos": None,
    "data": "'t' does not depend on any axioms",
}
SCRIPT = [["trivial", {"messages": [AXIOMS]}]]
PROOF = "theorem t : True := by\n  trivial\n"
BAD_INPUT = 2


def repl(script_file: Callable[[Any], str], *args: str) -> list[str]:
    return [
        "--repl",
        shlex.join(standin_command("--script", script_file(SCRIPT), *args)),
        "--workers",
        "1",
    ]


def one_line_error(result: Any, *words: str) -> str:
    """The command failed with exit 2 and exactly one line on stderr holding ``words``."""
    assert result.exit_code == BAD_INPUT, (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], lines[0]
    return str(lines[0])


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    proof = tmp_path / "proof.lean"
    proof.write_text(PROOF)
    latin1 = tmp_path / "latin1.lean"
    latin1.write_bytes("theorem t : True := by -- café\n".encode("latin-1"))
    return {"proof": proof, "missing": tmp_path / "nope.lean", "dir": tmp_path, "latin1": latin1}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["{missing}"], ["proof", "does not exist"]),
        (["{dir}"], ["proof", "is a directory"]),
        (["{proof}", "--statement", "{missing}"], ["statement", "does not exist"]),
        (["{proof}", "--statement", "{dir}"], ["statement", "is a directory"]),
        (["{proof}", "--statement", "{latin1}"], ["statement", "not UTF-8"]),
        (["{missing}", "--jsonl"], ["JSONL", "does not exist"]),
        (["{dir}", "--jsonl"], ["JSONL", "is a directory"]),
        (["{proof}", "--jsonl", "--output", "{missing}/out.jsonl"], ["--output", "does not exist"]),
        (["{proof}", "--workers", "0"], ["--workers", "at least 1"]),
        (["{proof}", "--timeout", "-1"], ["--timeout", "positive"]),
        (["{proof}", "--warmup-timeout", "0"], ["--warmup-timeout", "positive"]),
    ],
)
def test_check_bad_files_and_options(
    files: dict[str, Path], args: list[str], words: list[str]
) -> None:
    argv = [a.format(**files) for a in args]
    repl_args = ["--repl", shlex.join(standin_command())]
    one_line_error(runner.invoke(app, ["check", *argv, *repl_args]), *words)


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("python3 'unclosed", ["--repl", "No closing quotation"]),
        ("/nonexistent/repl --flag", ["--repl", "not an executable"]),
    ],
)
def test_check_bad_repl_command(files: dict[str, Path], command: str, words: list[str]) -> None:
    one_line_error(runner.invoke(app, ["check", str(files["proof"]), "--repl", command]), *words)


def test_jsonl_bad_items_become_their_verdicts_and_the_rest_are_checked(
    script_file: Callable[[Any], str], tmp_path: Path
) -> None:
    lines = [
        json.dumps({"id": "number-statement", "code": PROOF, "statement": 42}),
        json.dumps({"id": "good", "code": PROOF}),
        json.dumps({"id": "surrogate", "code": "theorem t : True := by\n  trivial -- \ud800"}),
        json.dumps({"id": "surrogate-statement", "code": PROOF, "statement": "\ud800"}),
        json.dumps({"id": "\ud800", "code": PROOF, "statement": 42}),
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert "\\ud800" in path.read_text()  # valid JSON, and ASCII on disk
    result = runner.invoke(app, ["check", str(path), "--jsonl", *repl(script_file)])
    assert result.exit_code == 1, result.output
    records = {r["id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert set(records) == {"number-statement", "good", "surrogate", "surrogate-statement", "5"}
    assert records["good"]["outcome"] == "proved"
    assert records["number-statement"]["outcome"] == "rejected"
    assert '"statement" must be a string' in records["number-statement"]["reason"]
    assert "lone surrogate" in records["surrogate"]["reason"]
    assert "lone surrogate" in records["surrogate-statement"]["reason"]
    assert records["5"]["outcome"] == "rejected"  # an id that cannot be written: the line number


def test_a_line_nested_too_deeply_is_its_own_verdict(
    script_file: Callable[[Any], str], tmp_path: Path
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        json.dumps({"id": "good", "code": PROOF})
        + "\n"
        + '{"id": "deep", "code": '
        + "[" * 100_000
        + "]" * 100_000
        + "}\n"
    )
    result = runner.invoke(app, ["check", str(path), "--jsonl", *repl(script_file)])
    assert result.exit_code == 1, result.output
    records = {r["id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert records["good"]["outcome"] == "proved"
    assert records["2"]["outcome"] == "rejected" and "nested too deeply" in records["2"]["reason"]


def test_an_id_used_twice_is_refused_before_lean_runs(
    files: dict[str, Path], tmp_path: Path
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(r)
            for r in [{"id": "dup", "code": PROOF}, {"code": PROOF}, {"id": "dup", "code": PROOF}]
        )
        + "\n"
    )
    result = runner.invoke(app, ["check", str(path), "--jsonl", "--repl", "/nonexistent/repl"])
    one_line_error(result, "line 3", "'dup' is also on line 1", "unique")


def test_output_to_a_full_disk_is_one_line(
    script_file: Callable[[Any], str], tmp_path: Path
) -> None:
    import subprocess
    import sys

    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"id": "p", "code": PROOF}) + "\n")
    for output in (["--output", "/dev/full"], []):
        with open("/dev/full", "w") as full:
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "stepprover.cli",
                    "check",
                    str(path),
                    "--jsonl",
                    *output,
                    *repl(script_file),
                ],
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                timeout=300,
                check=False,
            )
        assert done.returncode == BAD_INPUT, done.stderr
        assert (
            done.stderr.strip().splitlines()[-1]
            == "stepprover: cannot write the output: No space left on device"
        ), done.stderr
        assert "Traceback" not in done.stderr


def test_one_proof_with_output_writes_its_verdict_there(
    files: dict[str, Path], script_file: Callable[[Any], str], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        app, ["check", str(files["proof"]), "--output", str(out), *repl(script_file)]
    )
    assert result.exit_code == 0, result.output
    assert "proved" in result.stdout  # printed as before
    [record] = map(json.loads, out.read_text().splitlines())
    assert record["id"] == str(files["proof"]) and record["outcome"] == "proved"


def test_output_file_is_written_and_holds_every_verdict(
    script_file: Callable[[Any], str], tmp_path: Path
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"p{i}", "code": PROOF}) for i in range(3)) + "\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        app, ["check", str(path), "--jsonl", "--output", str(out), *repl(script_file)]
    )
    assert result.exit_code == 0, result.output
    assert sorted(json.loads(line)["id"] for line in out.read_text().splitlines()) == [
        "p0",
        "p1",
        "p2",
    ]


def test_warmup_timeout_is_an_option_with_an_honest_message(
    script_file: Callable[[Any], str], tmp_path: Path
) -> None:
    proof = tmp_path / "p.jsonl"
    proof.write_text(json.dumps({"id": "p", "code": "import Mathlib\n\n" + PROOF}) + "\n")
    result = runner.invoke(
        app,
        [
            "check",
            str(proof),
            "--jsonl",
            "--timeout",
            "100",
            "--warmup-timeout",
            "0.5",
            *repl(script_file, "--hang"),
        ],
    )
    # No worker could be warmed up: an outage, so no verdict at all (exit 3), said once,
    # after one warm-up (a second would only wait as long again).
    assert result.stdout == "" and result.exit_code == 3, (result.stdout, result.stderr)
    assert "Lean could not be started or reached" in result.stderr
    assert "warm-up timeout (0.5 s, --warmup-timeout)" in result.stderr
    assert "request timeout" not in result.stderr


def test_a_megabyte_message_prints_verbatim_without_highlighting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script_file: Callable[[Any], str]
) -> None:
    def no_highlighting(*_: Any) -> None:
        raise AssertionError("Lean's messages must not go through Rich's highlighter")

    monkeypatch.setattr(rich.highlighter.ReprHighlighter, "highlight", no_highlighting)
    text = "[bold]not markup[/bold] " + "x = 1 ∧ y = 'a' " * 65_536
    script = [
        [
            "trivial",
            {
                "messages": [
                    {
                        "severity": "error",
                        "pos": {"line": 2, "column": 2},
                        "endPos": None,
                        "data": text,
                    }
                ]
            },
        ]
    ]
    proof = tmp_path / "p.lean"
    proof.write_text(PROOF)
    command = shlex.join(standin_command("--script", script_file(script)))
    result = runner.invoke(app, ["check", str(proof), "--repl", command, "--workers", "1"])
    assert result.exit_code == 1, result.output
    assert len(text) > 1_000_000 and f"2:2 error: {text}" in result.stdout


def test_prove_bad_problem_and_model(
    script_file: Callable[[Any], str], files: dict[str, Path]
) -> None:
    base = ["prove", "--model", "/nonexistent/model", *repl(script_file)[:2]]
    one_line_error(
        runner.invoke(app, [*base, "--problem", str(files["latin1"])]), "problem", "not UTF-8"
    )
    one_line_error(
        runner.invoke(app, [*base, "--problem", str(files["missing"])]), "does not exist"
    )
    one_line_error(
        runner.invoke(app, [*base, "--problem", str(files["proof"]), "--backend", "transformers"]),
        "/nonexistent/model",
        "does not exist",
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--benchmark", "minif2f-tset"], ["unknown benchmark", *bundled_benchmarks()]),
        (["--samples", "0"], ["--samples", "at least 1"]),
        (["--concurrency", "0"], ["--concurrency", "at least 1"]),
        (["--workers", "0"], ["--workers", "at least 1"]),
        (["--final-timeout", "-1"], ["--final-timeout", "positive"]),
        (["--max-repl-calls", "-1"], ["--max-repl-calls", "at least 1"]),
        (["--max-context-tokens", "-5"], ["--max-context-tokens", "at least 1"]),
        (["--run-dir", __file__], ["--run-dir", "is a file"]),
    ],
)
def test_eval_bad_options(tmp_path: Path, args: list[str], words: list[str]) -> None:
    result = runner.invoke(
        app,
        [
            "eval",
            "--model",
            "x",
            "--run-dir",
            str(tmp_path / "run"),
            "--repl",
            shlex.join(standin_command()),
            *args,
        ],
    )
    one_line_error(result, *words)
    assert not (tmp_path / "run").exists(), "nothing is started for bad input"


# ------------------------------------------------------------------ help texts


def all_help_pages() -> list[list[str]]:
    return [
        [],
        ["check"],
        ["prove"],
        ["eval"],
        ["report"],
        ["serve"],
        ["lean"],
        ["lean", "setup"],
        ["lean", "doctor"],
        ["train"],
        ["train", "sft"],
        ["train", "grpo"],
        ["train", "cycle"],
        ["train", "plot"],
    ]


@pytest.mark.parametrize("page", all_help_pages(), ids=lambda p: " ".join(p) or "top")
def test_help_shows_no_type_placeholders(page: list[str]) -> None:
    result = runner.invoke(app, [*page, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "<str>" not in result.stdout and "<bool>" not in result.stdout, result.stdout


def help_text(*page: str, columns: int = 80) -> str:
    result = runner.invoke(app, [*page, "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return " ".join(result.stdout.replace("│", " ").split())


def test_help_texts_say_everything() -> None:
    from stepprover.server.settings import ServiceSettings

    assert "pip install '.[train]'" in help_text()
    assert "pip install '.[train]'" in help_text("train")
    for page in ("prove", "eval"):
        text = help_text(page)
        assert all(style in text.split("Prompt styles")[-1] for style in PROVER_STYLES), text
        assert "…" not in text, text
    assert "Sampling seed" in help_text("prove")
    assert all(name in help_text("eval", columns=200) for name in bundled_benchmarks())
    assert len(bundled_benchmarks()) == 10
    serve = help_text("serve", columns=200)
    assert all(
        f"STEPPROVER_SERVICE_{name.upper()}" in serve for name in ServiceSettings.model_fields
    ), serve
    assert "STEPPROVER_SERVICE_MAX_RSS_MB" in serve and "…" not in help_text("serve")
    setup = help_text("lean", "setup")
    defaults = LeanSetup()
    for value in (defaults.lean_version, defaults.mathlib_rev, defaults.repl_rev):
        assert value in setup, setup


def test_progress_rate_is_formatted() -> None:
    assert format_rate(2.6273474314782415) == "2.63 /s"
    assert format_rate(0.05) == "3.0 /min"
    assert format_rate(None) == "" and format_rate(0.0) == ""


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1:99999", ["port 99999 is not in 1..65535"]),
        ("http://[::1", ["is not a URL"]),
        ("notaurl", ["give the service's http(s)://HOST:PORT"]),
        ("ftp://example.org", ["give the service's http(s)://HOST:PORT"]),
        ("localhost:8000", ["give the service's http(s)://HOST:PORT"]),
    ],
)
@pytest.mark.parametrize("command", ["prove", "eval"])
def test_a_lean_url_that_is_not_a_service_url_is_one_line(
    command: str, url: str, words: list[str], tmp_path: Path
) -> None:
    where = (
        ["--minif2f", "mathd_algebra_10"]
        if command == "prove"
        else ["--benchmark", "minif2f-test", "--run-dir", str(tmp_path / "run")]
    )
    result = runner.invoke(
        app, [command, "--model", "t.json", "--backend", "scripted", *where, "--lean-url", url]
    )
    one_line_error(result, "--lean-url", *words)
    assert not (tmp_path / "run").exists()


def test_a_lean_api_key_that_cannot_go_in_a_header_is_one_line() -> None:
    result = runner.invoke(
        app,
        [
            "prove",
            "--model",
            "t.json",
            "--backend",
            "scripted",
            "--minif2f",
            "mathd_algebra_10",
            "--lean-url",
            "http://127.0.0.1:9",
            "--lean-api-key",
            "ключ",
        ],
    )
    one_line_error(result, "--lean-api-key", "printable ASCII")


@pytest.mark.parametrize(
    ("status", "headers", "body", "words"),
    [
        (
            200,
            {},
            b"<html>a web page</html>",
            ["answered 200 without JSON", "is this a stepprover service?"],
        ),
        (301, {"Location": "/elsewhere/"}, b"", ["answered 301, a redirect to '/elsewhere/'"]),
    ],
)
def test_a_lean_url_that_answers_but_is_no_service_is_one_line(
    status: int, headers: dict[str, str], body: bytes, words: list[str]
) -> None:
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = runner.invoke(
            app,
            [
                "prove",
                "--model",
                "t.json",
                "--backend",
                "scripted",
                "--minif2f",
                "mathd_algebra_10",
                "--lean-url",
                url,
            ],
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and all(w in lines[0] for w in words), result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--workers", "0"], ["--workers", "at least 1"]),
        (["--timeout", "nan"], ["--timeout", "positive", "nan"]),
        (["--timeout", "-1"], ["--timeout", "positive"]),
    ],
)
def test_selftest_bad_options(args: list[str], words: list[str]) -> None:
    one_line_error(
        runner.invoke(app, ["lean", "selftest", "--repl", shlex.join(standin_command()), *args]),
        *words,
    )


def test_selftest_with_a_repl_that_cannot_start_says_so_with_exit_3() -> None:
    import sys

    result = runner.invoke(
        app, ["lean", "selftest", "--repl", f"{sys.executable} /no/such/repl.py"]
    )
    assert result.exit_code == 3, result.output
    assert "Lean could not be started" in result.stderr and "Traceback" not in result.output


def _check_in_bounded_memory(*args: str) -> Any:
    """`stepprover check ARGS` in a process whose address space is capped at 2 GiB: an input
    read whole into memory ends it (MemoryError) instead of the test machine."""
    import resource
    import subprocess
    import sys

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))

    return subprocess.run(
        [
            sys.executable,
            "-m",
            "stepprover.cli",
            "check",
            *args,
            "--repl",
            shlex.join(standin_command()),
        ],
        capture_output=True,
        text=True,
        preexec_fn=cap,
        timeout=300,
        check=False,
    )


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_proof_file_is_read_against_the_proof_limit(tmp_path: Path) -> None:
    # The proof is refused before Lean: no REPL is started.
    verdicts = tmp_path / "verdicts.jsonl"
    done = _check_in_bounded_memory("/dev/zero", "--output", str(verdicts))
    assert done.returncode == 1, done.stderr
    record = json.loads(verdicts.read_text())
    assert record["outcome"] == "rejected"
    assert "over the 1000000-byte limit" in record["reason"]
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_jsonl_and_statement_are_read_against_their_limits(
    files: dict[str, Path],
) -> None:
    done = _check_in_bounded_memory("/dev/zero", "--jsonl")
    assert done.returncode == BAD_INPUT, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"JSONL /dev/zero: over the {2**30}-byte limit for a JSONL; split it"
    ]
    done = _check_in_bounded_memory(str(files["proof"]), "--statement", "/dev/zero")
    assert done.returncode == BAD_INPUT, done.stderr
    assert done.stderr.strip() == "statement /dev/zero is over the 1000000-byte limit"


def test_a_jsonl_line_over_its_limit_is_its_own_verdict(
    script_file: Callable[[Any], str], tmp_path: Path
) -> None:
    from stepprover.cli.check import JSONL_LINE_LIMIT

    path = tmp_path / "in.jsonl"
    long_line = '{"id": "long", "code": "' + "x" * JSONL_LINE_LIMIT + '"}'
    path.write_text(long_line + "\n" + json.dumps({"id": "good", "code": PROOF}) + "\n")
    result = runner.invoke(app, ["check", str(path), "--jsonl", *repl(script_file)])
    assert result.exit_code == 1, result.output
    records = {r["id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert records["good"]["outcome"] == "proved"
    assert records["1"]["outcome"] == "rejected"
    assert "over the 16777216-byte limit for one line" in records["1"]["reason"]


def test_a_line_without_id_never_collides_with_another_lines_id(
    script_file: Callable[[Any], str], tmp_path: Path
) -> None:
    # Line 1 has no id (it is known by its number), line 2 gives "1" as its id: both are
    # checked, neither refuses the batch.
    path = tmp_path / "in.jsonl"
    lines = [{"code": PROOF}, {"id": "1", "code": PROOF}, {"id": 3, "code": PROOF}, "not json"]
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    result = runner.invoke(app, ["check", str(path), "--jsonl", *repl(script_file)])
    assert result.exit_code == 1, result.output
    records = {r["id"]: r["outcome"] for r in map(json.loads, result.stdout.splitlines())}
    assert records == {"line 1": "proved", "1": "proved", "3": "proved", "4": "rejected"}


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_an_empty_jsonl_is_one_line_not_zero_of_zero_proved(tmp_path: Path, content: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(content)
    result = runner.invoke(app, ["check", str(path), "--jsonl", "--repl", "/nonexistent/repl"])
    one_line_error(result, "holds no proof")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", ["is empty"]),
        (b"\r\r\r", ["holds only whitespace (3 bytes)"]),
        (b" \n\t\n", ["holds only whitespace"]),
        (b"theorem t : True := by\r  trivial -- done\r", ["CR alone", "convert it"]),
    ],
)
def test_a_proof_file_with_no_lean_text_is_one_line(
    tmp_path: Path, content: bytes, words: list[str]
) -> None:
    proof = tmp_path / "p.lean"
    proof.write_bytes(content)
    result = runner.invoke(app, ["check", str(proof), "--repl", shlex.join(standin_command())])
    one_line_error(result, f"proof {proof}", *words)


@pytest.mark.parametrize(
    ("statement", "words"),
    [
        ("import Mathlib\n-- no theorem here\n", ["declares no theorem"]),
        # the statement is trusted as given; only what no proof can mend is refused
        ("import Mathlib import\ntheorem t : True := by\n", ["header", "without a module"]),
    ],
)
def test_a_statement_that_cannot_be_checked_against_is_exit_2(
    files: dict[str, Path], tmp_path: Path, statement: str, words: list[str]
) -> None:
    path = tmp_path / "statement.lean"
    path.write_text(statement)
    args = ["check", str(files["proof"]), "--statement", str(path)]
    result = runner.invoke(app, [*args, "--repl", shlex.join(standin_command())])
    one_line_error(result, f"statement {path}", *words)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_problem_file_is_read_against_its_limit(tmp_path: Path) -> None:
    from stepprover.data.problems import PROBLEM_FILE_LIMIT, file_sha256, load_jsonl
    from stepprover.errors import DataError

    endless = tmp_path / "bench.jsonl"
    endless.symlink_to("/dev/zero")
    for read in (load_jsonl, file_sha256):
        with pytest.raises(DataError, match=f"over the {PROBLEM_FILE_LIMIT}-byte limit"):
            read(endless)
