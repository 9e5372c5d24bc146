"""The gold check against a stand-in comparator and a stand-in lake (test programs that
follow comparator's and lake's interfaces; they are not comparator or Lake)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from pathlib import Path

import psutil
import pytest

from stepprover.errors import GoldUnavailable
from stepprover.lean.gold import (
    SUCCESS_LINE,
    GoldChecker,
    GoldConfig,
    GoldTools,
    _Run,
    _Stage,
    judge,
)
from stepprover.lean.verify import DEFAULT_ALLOWED_AXIOMS, Outcome
from tests.progress import until

FAKES = Path(__file__).parents[1] / "fakes"
EXAMPLES = Path(__file__).parents[2] / "examples"
STATEMENT = (EXAMPLES / "mathd_algebra_10.statement.lean").read_text()
PROOF = (EXAMPLES / "mathd_algebra_10.lean").read_text()


def make_tools(tmp_path: Path, *, landrun: bool = True) -> GoldTools:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("landrun", "lean4export"):
        if name == "landrun" and not landrun:
            continue
        tool = bin_dir / name
        tool.write_text("#!/bin/sh\nexit 0\n")
        tool.chmod(0o755)
    (tmp_path / "mathlib" / ".lake" / "packages").mkdir(parents=True, exist_ok=True)
    return GoldTools(
        comparator=[sys.executable, str(FAKES / "standin_comparator.py")],
        lake=[sys.executable, str(FAKES / "standin_lake.py")],
        landrun=bin_dir / "landrun",
        lean4export=bin_dir / "lean4export",
        mathlib_dir=tmp_path / "mathlib",
        toolchain="leanprover/lean4:v4.20.0-rc5",
        projects=tmp_path / "projects",
        env={**os.environ, "STANDIN_COMPARATOR_LOG": str(tmp_path / "builds.log")},
        require_landlock=False,  # the stand-in landrun sandboxes nothing anyway
    )


@pytest.fixture
def tools(tmp_path: Path) -> GoldTools:
    return make_tools(tmp_path)


def with_line(proof: str, old: str, new: str) -> str:
    assert old in proof
    return proof.replace(old, new)


def children_of_config(tools: GoldTools) -> list[psutil.Process]:
    """Processes the stand-in started for a check of ours (their argv names our config)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmdline = p.info["cmdline"] or []
        if any(part.startswith(str(tools.projects)) for part in cmdline):
            found.append(p)
    return found


async def test_honest_proof_is_proved_with_the_configured_axioms(tools: GoldTools) -> None:
    checker = GoldChecker(tools, allowed_axioms=DEFAULT_ALLOWED_AXIOMS)
    verdict = await checker.check(STATEMENT, PROOF)
    assert verdict.outcome is Outcome.PROVED, verdict.reason + verdict.output_tail
    [project] = tools.projects.iterdir()
    config = json.loads((project / "comparator.json").read_text())
    assert config == {
        "challenge_module": "Challenge",
        "solution_module": "Solution",
        "theorem_names": ["mathd_algebra_10"],
        "permitted_axioms": ["Classical.choice", "Quot.sound", "propext"],
    }
    challenge = (project / "Challenge.lean").read_text()
    assert challenge.startswith("import Mathlib\nimport Aesop\n") and challenge.rstrip().endswith(
        "sorry"
    )
    assert (project / "Solution.lean").read_text() == PROOF
    lakefile = (project / "lakefile.toml").read_text()
    assert 'name = "mathlib"' in lakefile and "packagesDir" in lakefile
    assert (project / "lean-toolchain").read_text() == "leanprover/lean4:v4.20.0-rc5\n"
    assert verdict.elapsed > 0 and verdict.peak_rss_mb > 0


async def test_a_changed_statement_is_rejected_with_comparators_reason(tools: GoldTools) -> None:
    cheat = with_line(PROOF, "abs ((120 : ℝ)", "abs ((121 : ℝ)")
    verdict = await GoldChecker(tools).check(STATEMENT, cheat)
    assert verdict.outcome is Outcome.REJECTED
    assert "theorem statement do not match: 'mathd_algebra_10'" in verdict.reason


async def test_a_missing_theorem_is_rejected(tools: GoldTools) -> None:
    renamed = with_line(PROOF, "theorem mathd_algebra_10", "theorem other_name")
    verdict = await GoldChecker(tools).check(STATEMENT, renamed)
    assert verdict.outcome is Outcome.REJECTED and "not found in solution" in verdict.reason


async def test_axioms_follow_the_verify_config(tools: GoldTools) -> None:
    native = with_line(PROOF, "norm_num [abs_of_nonneg]", "native_decide")
    refused = await GoldChecker(tools).check(STATEMENT, native)
    assert refused.outcome is Outcome.REJECTED
    assert "Illegal axiom detected: 'Lean.ofReduceBool'" in refused.reason
    permissive = GoldChecker(tools, allowed_axioms=DEFAULT_ALLOWED_AXIOMS | {"Lean.ofReduceBool"})
    assert (await permissive.check(STATEMENT, native)).outcome is Outcome.PROVED
    sorry = with_line(PROOF, "norm_num [abs_of_nonneg]", "sorry")
    verdict = await GoldChecker(tools).check(STATEMENT, sorry)
    assert verdict.outcome is Outcome.REJECTED and "'sorryAx'" in verdict.reason


async def test_a_solution_that_does_not_build_is_rejected_with_the_error(tools: GoldTools) -> None:
    broken = PROOF + "\n-- standin: build-error\n"
    verdict = await GoldChecker(tools).check(STATEMENT, broken)
    assert verdict.outcome is Outcome.REJECTED
    assert "does not build" in verdict.reason and "unknown tactic" in verdict.reason


async def test_kernel_rejection(tools: GoldTools) -> None:
    verdict = await GoldChecker(tools).check(STATEMENT, PROOF + "\n-- standin: kernel-reject\n")
    assert verdict.outcome is Outcome.REJECTED and "declaration type mismatch" in verdict.reason


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ("segfault", "exited with code -11"),
        ("garbage", "Failed to parse export line 17"),
        ("fake-success", "comparator failed"),
    ],
)
async def test_crashes_are_never_proofs_or_rejections(
    tools: GoldTools, marker: str, expected: str
) -> None:
    verdict = await GoldChecker(tools).check(STATEMENT, PROOF + f"\n-- standin: {marker}\n")
    assert verdict.outcome is Outcome.CRASH, verdict
    assert expected in verdict.reason


async def test_timeout_kills_comparators_whole_tree(tools: GoldTools) -> None:
    checker = GoldChecker(tools, config=GoldConfig(timeout=3.0))
    verdict = await checker.check(STATEMENT, PROOF + "\n-- standin: hang\n")
    assert verdict.outcome is Outcome.TIMEOUT and "3 s" in verdict.reason
    assert children_of_config(tools) == []


async def test_memory_cap_kills_comparators_whole_tree(tools: GoldTools) -> None:
    checker = GoldChecker(tools, config=GoldConfig(max_rss_mb=300, rss_poll_interval=0.05))
    verdict = await checker.check(STATEMENT, PROOF + "\n-- standin: allocate\n")
    assert verdict.outcome is Outcome.CRASH and "300 MB" in verdict.reason
    assert verdict.peak_rss_mb > 300
    assert children_of_config(tools) == []


async def test_cancelling_a_check_kills_the_tree(tools: GoldTools) -> None:
    checker = GoldChecker(tools)
    task = asyncio.create_task(checker.check(STATEMENT, PROOF + "\n-- standin: hang\n"))
    await until(
        lambda: any("time.sleep" in " ".join(p.cmdline()) for p in children_of_config(tools)),
        "the stand-in build to hang",
    )
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert children_of_config(tools) == []


async def test_missing_tools_are_named(tmp_path: Path) -> None:
    tools = make_tools(tmp_path, landrun=False)
    with pytest.raises(GoldUnavailable, match=r"landrun .*stepprover lean setup --with-comparator"):
        GoldChecker(tools)
    gone = dataclasses.replace(tools, comparator=[str(tmp_path / "no-comparator")])
    with pytest.raises(GoldUnavailable, match="comparator"):
        GoldChecker(gone)


def test_no_landlock_means_no_gold_check(tools: GoldTools, monkeypatch: pytest.MonkeyPatch) -> None:
    """landrun --best-effort would run the solution's build unsandboxed: fail closed."""
    import dataclasses

    from stepprover.lean import gold

    strict = dataclasses.replace(tools, require_landlock=True)
    monkeypatch.setattr(gold, "landlock_abi", lambda: 3)
    GoldChecker(strict)
    monkeypatch.setattr(gold, "landlock_abi", lambda: None)
    with pytest.raises(GoldUnavailable, match="Landlock"):
        GoldChecker(strict)


async def test_a_tool_lost_after_start_is_a_crash_not_a_rejection(tools: GoldTools) -> None:
    checker = GoldChecker(tools)
    tools.landrun.unlink()
    verdict = await checker.check(STATEMENT, PROOF)
    assert verdict.outcome is Outcome.CRASH and "landrun" in verdict.reason


async def test_a_challenge_that_does_not_build_is_a_crash(tools: GoldTools) -> None:
    statement = STATEMENT.replace("open BigOperators", "-- standin: broken\nopen BigOperators")
    verdict = await GoldChecker(tools).check(statement, PROOF)
    assert verdict.outcome is Outcome.CRASH and "challenge" in verdict.reason


async def test_the_challenge_is_built_once_and_each_solution_rebuilt(
    tools: GoldTools, tmp_path: Path
) -> None:
    checker = GoldChecker(tools)
    for proof in (PROOF, PROOF + "\n-- another\n", PROOF):
        assert (await checker.check(STATEMENT, proof)).proved
    builds = (tmp_path / "builds.log").read_text().split()
    assert builds == ["Challenge", "Solution", "Solution", "Solution"]


async def test_what_a_solution_build_leaves_in_lake_never_reaches_the_next_check(
    tools: GoldTools,
) -> None:
    checker = GoldChecker(tools)
    assert (await checker.check(STATEMENT, PROOF)).proved
    [project] = tools.projects.iterdir()
    # What an adversarial build could do: replace the challenge's build, plant a module.
    (project / ".lake" / "build" / "lib" / "lean" / "Challenge.olean").write_text("tampered")
    (project / ".lake" / "build" / "lib" / "lean" / "Mathlib.olean").write_text("planted")
    assert (await checker.check(STATEMENT, PROOF)).proved
    build = project / ".lake" / "build" / "lib" / "lean"
    assert (build / "Challenge.olean").read_text() == "stand-in"
    assert not (build / "Mathlib.olean").exists()


async def test_links_a_solution_build_plants_in_lake_are_removed_not_followed(
    tools: GoldTools, tmp_path: Path
) -> None:
    checker = GoldChecker(tools)
    assert (await checker.check(STATEMENT, PROOF)).proved
    [project] = tools.projects.iterdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not the checker's to delete")
    (project / ".lake" / "escape").symlink_to(outside, target_is_directory=True)
    locked = project / ".lake" / "locked"
    (locked / "inner").mkdir(parents=True)
    locked.chmod(0o000)
    assert (await checker.check(STATEMENT, PROOF)).proved
    assert (outside / "keep.txt").exists()
    assert not (project / ".lake" / "escape").exists() and not locked.exists()


async def test_checks_of_one_statement_take_turns(tools: GoldTools) -> None:
    checker = GoldChecker(tools, config=GoldConfig(workers=3))
    proofs = [PROOF, PROOF + "\n-- standin: build-error\n", PROOF + "\n-- b\n"]
    verdicts = await asyncio.gather(*(checker.check(STATEMENT, p) for p in proofs))
    assert [v.outcome for v in verdicts] == [Outcome.PROVED, Outcome.REJECTED, Outcome.PROVED]


def test_progress_lines_only_move_forward() -> None:
    """A solution's build output cannot pose as an earlier stage (a refusal stays a refusal)."""
    run = _Run(returncode=1, stage=_Stage.SOLUTION_BUILD)
    run.stderr_tail += b"uncaught exception: Child exited with 1"
    assert judge(run, timeout=1, max_rss_mb=1)[0] is Outcome.REJECTED
    early = _Run(returncode=1, stage=_Stage.CHALLENGE_BUILD)
    early.stderr_tail += b"uncaught exception: Child exited with 1"
    assert judge(early, timeout=1, max_rss_mb=1)[0] is Outcome.CRASH
    ok_without_line = _Run(returncode=0, stage=_Stage.KERNEL)
    assert judge(ok_without_line, timeout=1, max_rss_mb=1)[0] is Outcome.CRASH
    ok = _Run(returncode=0, stage=_Stage.KERNEL, success_line=True)
    assert judge(ok, timeout=1, max_rss_mb=1) == (Outcome.PROVED, "")
    assert SUCCESS_LINE == "Your solution is okay!"


@pytest.mark.parametrize(("lean", "rev"), [("v4.20.0-rc5", "9010084"), ("v4.30.0", "1cfc5d8")])
async def test_each_pinned_comparator_gets_the_config_keys_it_requires(
    tmp_path: Path, lean: str, rev: str
) -> None:
    """comparator at 1cfc5d8 (tag v4.30.0) declares ``enable_nanoda : Bool`` without a
    default in ``structure Config`` (Main.lean), so a config without it fails to parse
    there; 9010084 has only the four keys. The stand-in reads the config as ``rev`` does."""
    from stepprover.lean.toolchain import LeanSetup

    pinned = GoldTools.from_setup(LeanSetup(root=tmp_path / "lean", lean_version=lean))
    tools = dataclasses.replace(
        make_tools(tmp_path),
        config_extra=pinned.config_extra,
        env={**os.environ, "STANDIN_COMPARATOR_REV": rev},
    )
    assert (await GoldChecker(tools).check(STATEMENT, PROOF)).outcome is Outcome.PROVED
    [project] = tools.projects.iterdir()
    sent = json.loads((project / "comparator.json").read_text())
    assert ("enable_nanoda" in sent) is (rev == "1cfc5d8")
    if rev == "1cfc5d8":
        assert sent["enable_nanoda"] is False  # nanoda is not installed by `lean setup`
        without = dataclasses.replace(tools, config_extra={}, projects=tmp_path / "other")
        verdict = await GoldChecker(without).check(STATEMENT, PROOF)
        assert verdict.outcome is Outcome.CRASH and "enable_nanoda" in verdict.reason


async def test_a_theorem_named_in_guillemets_is_named_as_comparator_reads_names(
    tools: GoldTools,
) -> None:
    statement = STATEMENT.replace("theorem mathd_algebra_10", "theorem «my theorem»")
    verdict = await GoldChecker(tools).check(
        statement, PROOF.replace("mathd_algebra_10", "«my theorem»")
    )
    assert verdict.outcome is Outcome.PROVED, verdict.reason + verdict.output_tail
    [project] = tools.projects.iterdir()
    assert json.loads((project / "comparator.json").read_text())["theorem_names"] == ["my theorem"]


async def test_a_name_comparator_cannot_spell_is_a_clear_crash(tools: GoldTools) -> None:
    statement = STATEMENT.replace("theorem mathd_algebra_10", "theorem «a.b»")
    proof = PROOF.replace("mathd_algebra_10", "«a.b»")
    verdict = await GoldChecker(tools).check(statement, proof)
    assert verdict.outcome is Outcome.CRASH and "cannot name theorem «a.b»" in verdict.reason
    assert not tools.projects.exists() or not any(tools.projects.iterdir())


@pytest.mark.parametrize(
    ("components", "written"),
    [
        (("mathd_algebra_10",), "mathd_algebra_10"),
        (("Foo", "bar'"), "Foo.bar'"),
        (("my theorem",), "my theorem"),
        (("a.b",), None),
        ((" padded",), None),
        (("",), None),
    ],
)
def test_comparator_name(components: tuple[str, ...], written: str | None) -> None:
    from stepprover.lean.gold import comparator_name

    assert comparator_name(components) == written


def test_tools_for_a_lean_without_pins_add_no_config_keys(tmp_path: Path) -> None:
    from stepprover.lean.toolchain import LeanSetup

    tools = GoldTools.from_setup(LeanSetup(root=tmp_path, lean_version="v4.24.0"))
    assert tools.config_extra == {} and tools.missing()
