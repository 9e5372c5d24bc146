"""Questions about the real REPL that only Lean settles. Skipped unless `stepprover lean
doctor` is green (the conftest's `lean` marker)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from stepprover.errors import SandboxUnavailable
from stepprover.lean.sandbox import SandboxConfig
from stepprover.lean.toolchain import LeanSetup, check_mathlib_reply, repl_process
from tests.conftest import TRANSCRIPTS
from tests.lean.test_standin import replayable

pytestmark = [pytest.mark.lean]


def run_repl(
    stdin: bytes, argv: list[str] | None = None, **kw: object
) -> subprocess.CompletedProcess[bytes]:
    setup = LeanSetup()
    config = setup.process_config()
    return subprocess.run(
        argv or list(config.command), input=stdin, cwd=config.cwd, capture_output=True,
        timeout=1800, check=False, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize(
    "path", replayable("v4.20.1"), ids=lambda p: str(p.relative_to(TRANSCRIPTS))
)
def test_the_installed_repl_speaks_the_recorded_dialect(path: Path) -> None:
    """Settles whether the pinned setup (the REPL branch re-pinned to Lean v4.20.0-rc5) prints
    what the REPL recorded at its own toolchain (v4.20.1), byte for byte: the stand-in's
    default dialect and every message text the code matches on stand on it."""
    result = run_repl(path.read_bytes())
    expected = path.with_name(path.name[:-3] + ".expected.out").read_bytes()
    assert result.stdout == expected


def test_a_request_that_is_no_json_ends_the_repl() -> None:
    """Settles REPL/Main.lean's `parse` throwing out of `main`: the reply before it, then
    `uncaught exception: ` and the error object on stderr, exit code 1."""
    result = run_repl(b'{"cmd": "example : 1 = 1 := rfl"}\n\n{not json\n\n{"cmd": "#eval 1"}\n\n')
    assert result.returncode == 1
    assert result.stdout.count(b'"env": 0') == 1 and b'"env": 1' not in result.stdout
    assert result.stderr.decode().startswith(
        'uncaught exception: {"message": "Could not parse JSON'
    )


def test_the_sandboxed_repl_answers_import_mathlib() -> None:
    """Settles the sandbox's assumptions together: the REPL started without Lake, with
    Lake's environment, HOME on the private /tmp, a read-only filesystem (nothing under
    .lake to write) and the per-user thread limit, answers `import Mathlib` with env 0."""
    try:
        config = repl_process(None, sandbox=SandboxConfig())
    except SandboxUnavailable as exc:  # bwrap missing, or Lake cannot say the environment
        pytest.skip(f"no sandbox here: {exc}")
    result = subprocess.run(
        config.argv, input=b'{"cmd": "import Mathlib"}\n\n', cwd=config.cwd, env=config.env,
        capture_output=True, timeout=1800, check=False,
    )  # fmt: skip
    assert check_mathlib_reply(result.stdout) is None, result.stderr.decode()[-2000:]
