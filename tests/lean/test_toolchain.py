"""The Lean install plan and doctor (nothing is downloaded in tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepprover.errors import SetupError
from stepprover.lean.toolchain import LeanSetup, doctor, run_plan, setup_plan


def fake_install(setup: LeanSetup, *, built: bool) -> None:
    (setup.elan_home / "bin").mkdir(parents=True)
    (setup.elan_home / "bin" / "elan").write_text("")
    setup.toolchain_dir.mkdir(parents=True)
    (setup.repl_dir / ".git").mkdir(parents=True)
    (setup.repl_dir / "lean-toolchain").write_text(setup.toolchain + "\n")
    (setup.mathlib_dir / ".git").mkdir(parents=True)
    if built:
        setup.repl_binary.parent.mkdir(parents=True)
        setup.repl_binary.write_text("")
        olean = setup.mathlib_dir / ".lake" / "build" / "lib" / "lean" / "Mathlib.olean"
        olean.parent.mkdir(parents=True)
        olean.write_text("")


def test_default_plan_is_the_reference_setup(tmp_path: Path) -> None:
    setup = LeanSetup(root=tmp_path / "lean", elan_home=tmp_path / "elan")
    steps = setup_plan(setup)
    assert setup.toolchain == "leanprover/lean4:v4.20.0-rc5"
    assert [s.done for s in steps] == [False] * 9
    commands = [" ".join(s.argv) for s in steps]
    assert "elan-init.sh" in commands[0] and "--default-toolchain none" in commands[0]
    assert commands[1].endswith("toolchain install leanprover/lean4:v4.20.0-rc5")
    assert "--branch bump_to_v4.20.1" in commands[2] and "leanprover-community/repl" in commands[2]
    assert "leanprover/lean4:v4.20.0-rc5" in commands[3] and steps[3].cwd == setup.repl_dir
    assert commands[4].endswith("lake build") and steps[4].cwd == setup.repl_dir
    assert "--branch v4.20.0-rc5" in commands[5] and "mathlib4" in commands[5]
    assert commands[6].endswith("lake exe cache get") and steps[6].cwd == setup.mathlib_dir
    # then what the pinned REPL's test/Mathlib/test.sh runs after the cache
    assert commands[7].endswith("lake build Mathlib") and steps[7].cwd == setup.mathlib_dir
    # and the REPL, started as verification starts it, must answer `import Mathlib` with env 0
    assert steps[8].argv == list(setup.process_config().command)
    assert steps[8].stdin == b'{"cmd": "import Mathlib"}\n\n' and steps[8].check is not None


def test_versions_are_configurable(tmp_path: Path) -> None:
    setup = LeanSetup(
        root=tmp_path,
        elan_home=tmp_path / "elan",
        lean_version="v4.24.0",
        mathlib_rev="v4.24.0",
        repl_rev="v4.24.0",
    )
    commands = [" ".join(s.argv) for s in setup_plan(setup)]
    assert "leanprover/lean4:v4.24.0" in commands[1] and "--branch v4.24.0" in commands[5]


def test_plan_skips_what_is_present_and_doctor_reports_it(tmp_path: Path) -> None:
    setup = LeanSetup(root=tmp_path / "lean", elan_home=tmp_path / "elan")
    fake_install(setup, built=False)
    assert [s.done for s in setup_plan(setup)] == [True] * 4 + [False, True] + [False] * 3
    checks = {c.name: c for c in doctor(setup)}
    assert (
        not checks["build the REPL"].ok and "stepprover lean setup" in checks["build the REPL"].fix
    )
    fake_install_rest = setup.repl_binary
    fake_install_rest.parent.mkdir(parents=True)
    fake_install_rest.write_text("")
    olean = setup.mathlib_dir / ".lake" / "build" / "lib" / "lean" / "Mathlib.olean"
    olean.parent.mkdir(parents=True)
    olean.write_text("")
    checks = {c.name: c for c in doctor(setup)}
    # files present are not a Mathlib that builds nor a REPL that answers: only running them is
    assert not checks["build Mathlib (what the cache lacks)"].ok
    assert not checks["check that the REPL answers `import Mathlib` with env 0"].ok
    for stamp in (setup.mathlib_stamp, setup.repl_stamp):
        stamp.write_text(setup.version_label)
    assert all(c.ok for c in doctor(setup))
    config = setup.process_config()
    assert config.command[-1] == str(setup.repl_binary) and config.cwd == setup.mathlib_dir
    assert config.max_rss_mb == 15_360


def test_run_plan_runs_pending_steps_and_stops_at_a_failure(tmp_path: Path) -> None:
    from stepprover.lean.toolchain import Step

    log: list[str] = []
    marker = tmp_path / "ran"
    steps = [
        Step("already", ["false"], None, True),
        Step("touch", ["touch", str(marker)], None, False),
        Step("fails", ["false"], None, False),
        Step("never", ["touch", str(tmp_path / "never")], None, False),
    ]
    with pytest.raises(SetupError, match="fails"):
        run_plan(steps, log=log.append)
    assert marker.exists() and not (tmp_path / "never").exists()
    assert log[0].startswith("[done]")


def test_one_repl_command_builder_for_cli_training_and_service(tmp_path: Path) -> None:
    from stepprover.errors import SandboxUnavailable
    from stepprover.lean.sandbox import SandboxConfig
    from stepprover.lean.toolchain import repl_process

    custom = repl_process("python3 my_repl.py --flag 'a b'", max_rss_mb=512)
    assert custom.command == ["python3", "my_repl.py", "--flag", "a b"] and custom.max_rss_mb == 512
    assert not custom.prefix
    installed = repl_process(None, tmp_path)
    assert installed == LeanSetup(root=tmp_path).process_config()
    try:
        boxed = repl_process("lean-repl", sandbox=SandboxConfig(memory_mb=1024))
    except SandboxUnavailable as exc:  # .ci/run installs bubblewrap; a bare machine may lack it
        pytest.skip(f"sandbox tools missing: {exc}")
    assert (
        boxed.command == ["lean-repl"] and boxed.prefix and "1073741824" in " ".join(boxed.prefix)
    )


def test_gold_plan_pins_comparator_lean4export_and_landrun(tmp_path: Path) -> None:
    from stepprover.lean.toolchain import GOLD_PINS, LANDRUN_VERSION, gold_setup_plan

    setup = LeanSetup(root=tmp_path / "lean", elan_home=tmp_path / "elan")
    steps = gold_setup_plan(setup)
    commands = [" ".join(s.argv) for s in steps]
    pins = GOLD_PINS["v4.20.0-rc5"]
    assert [s.done for s in steps] == [False] * 7
    assert (
        "leanprover/comparator" in commands[0]
        and f"checkout --detach {pins.comparator_rev}" in commands[0]
    )
    assert commands[1].endswith("lake build comparator") and steps[1].cwd == setup.comparator_dir
    assert "leanprover/lean4export" in commands[2] and pins.lean4export_rev in commands[2]
    # lean4export reads the project's .olean files, so it is built with the project's Lean.
    assert "leanprover/lean4:v4.20.0-rc5" in commands[3] and steps[3].cwd == setup.lean4export_dir
    assert commands[4].endswith("lake build lean4export")
    assert commands[5].endswith(f"lean4export {setup.lean4export_binary}")
    assert f"GOBIN={setup.gold_bin}" in commands[6] and f"landrun@{LANDRUN_VERSION}" in commands[6]
    current = LeanSetup(
        root=tmp_path / "lean",
        elan_home=tmp_path / "elan",
        lean_version="v4.30.0",
        mathlib_rev="v4.30.0",
        repl_rev="v4.30.0",
    )
    current_commands = [" ".join(s.argv) for s in gold_setup_plan(current)]
    assert GOLD_PINS["v4.30.0"].comparator_rev in current_commands[0]
    assert "leanprover/lean4:v4.30.0" in current_commands[3]


def test_gold_plan_refuses_a_lean_without_pins(tmp_path: Path) -> None:
    from stepprover.lean.toolchain import gold_doctor, gold_setup_plan

    setup = LeanSetup(root=tmp_path, elan_home=tmp_path / "elan", lean_version="v4.24.0")
    with pytest.raises(SetupError, match=r"v4\.24\.0.*supports v4\.20\.0-rc5, v4\.30\.0"):
        gold_setup_plan(setup)
    [check] = gold_doctor(setup)
    assert not check.ok and "v4.24.0" in check.fix


def test_gold_doctor_reports_each_tool_and_landlock(tmp_path: Path) -> None:
    from stepprover.lean.toolchain import GOLD_PINS, gold_doctor

    setup = LeanSetup(root=tmp_path / "lean", elan_home=tmp_path / "elan")
    pins = GOLD_PINS[setup.lean_version]
    for folder, rev in (
        (setup.comparator_dir, pins.comparator_rev),
        (setup.lean4export_dir, pins.lean4export_rev),
    ):
        (folder / ".git").mkdir(parents=True)
        (folder / ".git" / "HEAD").write_text(rev + "\n")
    (setup.lean4export_dir / "lean-toolchain").write_text(setup.toolchain + "\n")
    setup.comparator_binary.parent.mkdir(parents=True)
    setup.comparator_binary.write_text("")
    checks = {c.name: c for c in gold_doctor(setup)}
    assert checks["clone comparator at 90100840fd3e"].ok
    assert checks["build comparator (with its own pinned toolchain)"].ok
    assert checks["pin lean4export to leanprover/lean4:v4.20.0-rc5"].ok
    assert not checks["build lean4export"].ok
    assert "--with-comparator" in checks["install landrun v0.1.17 (needs Go >= 1.24)"].fix
    assert "Landlock (for landrun)" in checks and "unprivileged user (for comparator)" in checks


def test_landlock_abi_is_a_positive_version_or_none() -> None:
    from stepprover.lean.toolchain import landlock_abi

    abi = landlock_abi()
    assert abi is None or abi >= 1


def standin_tools(setup: LeanSetup, repl_args: list[str]) -> None:
    """The stand-in lake as elan's `lake` and the stand-in REPL as the built REPL binary."""
    import sys

    fakes = Path(__file__).parents[1] / "fakes"
    lake = setup.elan_home / "bin" / "lake"
    lake.parent.mkdir(parents=True, exist_ok=True)
    lake.write_text(f'#!/bin/sh\nexec {sys.executable} {fakes / "standin_lake.py"} "$@"\n')
    lake.chmod(0o755)
    setup.repl_binary.parent.mkdir(parents=True, exist_ok=True)
    args = " ".join(repl_args)
    setup.repl_binary.write_text(
        f'#!/bin/sh\nexec {sys.executable} {fakes / "standin_repl.py"} {args} "$@"\n'
    )
    setup.repl_binary.chmod(0o755)
    (setup.mathlib_dir / "Mathlib.lean").write_text("-- the stand-in lake builds this\n")


def test_setup_builds_mathlib_then_checks_the_repl_and_doctor_says_what_it_verified(
    tmp_path: Path,
) -> None:
    setup = LeanSetup(root=tmp_path / "lean", elan_home=tmp_path / "elan")
    fake_install(setup, built=True)
    standin_tools(setup, [])
    log: list[str] = []
    run_plan(setup_plan(setup), log=log.append)
    ran = [line for line in log if line.startswith("[running]")]
    assert len(ran) == 2 and "lake build Mathlib" in ran[0] and str(setup.repl_binary) in ran[1]
    checks = {c.name: c for c in doctor(setup)}
    assert all(c.ok for c in checks.values())
    built = checks["build Mathlib (what the cache lacks)"]
    answered = checks["check that the REPL answers `import Mathlib` with env 0"]
    assert built.evidence.startswith("verified: `lake build Mathlib` exited 0")
    assert answered.evidence.startswith("verified: the REPL answered `import Mathlib` with env 0")
    assert checks["build the REPL"].evidence.startswith("file exists:")
    assert all(line.startswith("[done]") for line in _rerun(setup))


def _rerun(setup: LeanSetup) -> list[str]:
    log: list[str] = []
    run_plan(setup_plan(setup), log=log.append)
    return log


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (
            {"messages": [{"severity": "error", "pos": {"line": 1, "column": 0},
                           "endPos": None, "data": "unknown module prefix 'Mathlib'"}]},
            "`import Mathlib` failed in the REPL: unknown module prefix",
        ),
        ({"message": "Unknown environment."}, "the REPL refused `import Mathlib`"),
    ],
)  # fmt: skip
def test_setup_is_not_done_while_the_repl_does_not_answer_import_mathlib(
    tmp_path: Path, script_file, reply: dict[str, object], why: str
) -> None:
    setup = LeanSetup(root=tmp_path / "lean", elan_home=tmp_path / "elan")
    fake_install(setup, built=True)
    standin_tools(setup, ["--script", script_file({"import Mathlib": reply})])
    with pytest.raises(SetupError, match="answers `import Mathlib`") as failed:
        run_plan(setup_plan(setup), log=lambda _: None)
    assert why in str(failed.value)
    assert setup.mathlib_stamp.exists() and not setup.repl_stamp.exists()
    assert not all(c.ok for c in doctor(setup))


def test_the_repl_check_reads_the_pinned_repls_recorded_answer() -> None:
    from stepprover.lean.toolchain import check_mathlib_reply
    from tests.conftest import TRANSCRIPTS

    recorded = (TRANSCRIPTS / "Mathlib" / "test" / "exact.expected.out").read_bytes()
    assert check_mathlib_reply(recorded) is None
    assert "env 1" in str(check_mathlib_reply(b'{"env": 1}\n\n'))
    assert "no reply" in str(check_mathlib_reply(b""))
