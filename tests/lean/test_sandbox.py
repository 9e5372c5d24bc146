"""The sandbox user: settable, so two services (or test runs) do not share a process limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepprover.errors import SandboxUnavailable
from stepprover.lean.sandbox import NOBODY, USER_VAR, SandboxConfig, sandbox_user
from stepprover.server.settings import ServiceSettings


def test_the_sandbox_user_defaults_to_nobody(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(USER_VAR, raising=False)
    assert sandbox_user() == (NOBODY, NOBODY)
    assert (SandboxConfig().uid, SandboxConfig().gid) == (NOBODY, NOBODY)


def test_the_sandbox_user_comes_from_the_variable_or_the_service_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(USER_VAR, "4000123")
    assert sandbox_user() == (4000123, 4000123)
    assert (SandboxConfig().uid, SandboxConfig().gid) == (4000123, 4000123)
    assert sandbox_user(" 70000:70001 ", "X") == (70000, 70001)
    try:
        prefix = (
            ServiceSettings(repl_command="lean-repl", sandbox_user="5000:6000")
            .pool_config()
            .process.prefix
        )
        fallback = ServiceSettings(repl_command="lean-repl").pool_config().process.prefix
    except SandboxUnavailable as exc:  # .ci/run installs bubblewrap; a bare machine may lack it
        pytest.skip(f"sandbox tools missing: {exc}")
    assert "--reuid=5000" in prefix and "--regid=6000" in prefix
    assert "--reuid=4000123" in fallback


@pytest.mark.parametrize(
    "value", ["0", "0:5", "5:0", "abc", "1:b", "-3", "4294967295", "1:2:3", "65534:", ":65534"]
)
def test_a_sandbox_user_that_is_root_or_not_a_number_is_refused_by_name(value: str) -> None:
    with pytest.raises(
        SandboxUnavailable, match=f"^STEPPROVER_SERVICE_SANDBOX_USER={value!r}: give UID"
    ):
        sandbox_user(value, "STEPPROVER_SERVICE_SANDBOX_USER")


def test_the_process_limit_leaves_room_for_leans_worker_threads() -> None:
    """RLIMIT_NPROC counts threads, and each REPL runs a worker thread per hardware thread:
    on a many-core machine a fixed 256 would starve the second REPL."""
    from stepprover.lean.sandbox import default_processes

    assert default_processes(2) == 288
    assert default_processes(128) >= 8 * (128 + 8)
    assert default_processes(1) >= 256


@pytest.fixture
def tools_present(monkeypatch: pytest.MonkeyPatch) -> None:
    """The prefix is only a list of arguments: build it without bwrap installed."""
    import stepprover.lean.sandbox as sandbox

    monkeypatch.setattr(sandbox.shutil, "which", lambda tool: f"/usr/bin/{tool}")


def test_inside_the_sandbox_home_is_the_private_tmp(tools_present: None) -> None:
    from stepprover.lean.sandbox import sandbox_prefix

    prefix = sandbox_prefix(SandboxConfig(env=(("ELAN_HOME", "/opt/elan"),)))
    joined = " ".join(prefix)
    assert "--tmpfs /tmp" in joined and "--setenv HOME /tmp" in joined
    assert joined.index("--setenv HOME /tmp") < joined.index("--setenv ELAN_HOME /opt/elan")


def test_the_installed_repl_runs_sandboxed_without_lake_with_lakes_environment(
    tmp_path: Path, tools_present: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stepprover.lean.toolchain import LeanSetup, repl_process
    from tests.lean.test_toolchain import fake_install, standin_tools

    monkeypatch.setenv("ELAN_HOME", str(tmp_path / "elan"))
    setup = LeanSetup(root=tmp_path / "lean", elan_home=tmp_path / "elan")
    fake_install(setup, built=True)
    standin_tools(setup, [])
    config = repl_process(None, setup.root, sandbox=SandboxConfig())
    assert config.command == [str(setup.repl_binary)]
    assert config.env is not None
    assert config.env["LEAN_PATH"] == str(setup.mathlib_dir / ".lake" / "build" / "lib" / "lean")
    assert "--chdir" in config.prefix and str(setup.mathlib_dir) in config.prefix


def test_a_custom_sandboxed_command_finds_elan_through_elan_home(
    tmp_path: Path, tools_present: None
) -> None:
    from stepprover.lean.toolchain import repl_process

    elan = Path.home() / ".elan"
    config = repl_process("lake env repl", sandbox=SandboxConfig())
    joined = " ".join(config.prefix)
    assert "--setenv HOME /tmp" in joined
    assert (f"--setenv ELAN_HOME {elan}" in joined) is elan.is_dir()


def test_without_lake_the_sandboxed_repl_is_a_clear_refusal(
    tmp_path: Path, tools_present: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stepprover.lean.toolchain import LeanSetup, repl_process

    monkeypatch.setenv("ELAN_HOME", str(tmp_path / "no-elan"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no lake anywhere
    setup = LeanSetup(root=tmp_path / "lean", elan_home=tmp_path / "no-elan")
    with pytest.raises(SandboxUnavailable, match="needs Lake's environment"):
        repl_process(None, setup.root, sandbox=SandboxConfig())


def test_the_service_takes_the_same_thread_aware_process_limit() -> None:
    from stepprover.lean.sandbox import default_processes

    assert ServiceSettings(repl_command="lean-repl").sandbox_processes == default_processes()
