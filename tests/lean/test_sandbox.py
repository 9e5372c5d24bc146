"""The sandbox user: settable, so two services (or test runs) do not share a process limit."""

from __future__ import annotations

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
