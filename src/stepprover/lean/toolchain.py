"""Installing Lean, the REPL and Mathlib at matching pinned versions, and checking them.

``setup_plan`` lists the steps (each knows whether it is already done), so the
plan can be shown, tested and resumed; ``run_plan`` executes the steps that are
not done. The default versions are the StepFun-Prover reference setup.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stepprover.errors import SetupError
from stepprover.lean.process import ProcessConfig
from stepprover.lean.sandbox import SandboxConfig, sandbox_prefix

REPL_MAX_RSS_MB = 15_360.0
"""A REPL past this resident memory is killed and replaced (StepFun's demo limit)."""
ELAN_INIT_URL = "https://raw.githubusercontent.com/leanprover/elan/master/elan-init.sh"
REPL_URL = "https://github.com/leanprover-community/repl"
MATHLIB_URL = "https://github.com/leanprover-community/mathlib4"



@dataclass(frozen=True)
class LeanSetup:
    """Where the Lean installation lives and which versions it pins."""

    root: Path = field(
        default_factory=lambda: Path(
            os.environ.get("STEPPROVER_LEAN_DIR", Path.home() / ".stepprover" / "lean")
        )
    )
    lean_version: str = "v4.20.0-rc5"
    mathlib_rev: str = "v4.20.0-rc5"
    repl_rev: str = "bump_to_v4.20.1"
    elan_home: Path = field(
        default_factory=lambda: Path(os.environ.get("ELAN_HOME", Path.home() / ".elan"))
    )

    @property
    def toolchain(self) -> str:
        return f"leanprover/lean4:{self.lean_version}"

    @property
    def version_label(self) -> str:
        """What a run records as its Lean setup."""
        return f"Lean {self.lean_version}, Mathlib {self.mathlib_rev}, REPL {self.repl_rev}"

    @property
    def repl_dir(self) -> Path:
        return self.root / f"repl-{self.repl_rev}-{self.lean_version}"

    @property
    def mathlib_dir(self) -> Path:
        return self.root / f"mathlib4-{self.mathlib_rev}"

    @property
    def repl_binary(self) -> Path:
        return self.repl_dir / ".lake" / "build" / "bin" / "repl"

    @property
    def toolchain_dir(self) -> Path:
        name = self.toolchain.replace("/", "--").replace(":", "---")
        return self.elan_home / "toolchains" / name

    @property
    def lake(self) -> str:
        local = self.elan_home / "bin" / "lake"
        return str(local) if local.exists() else (shutil.which("lake") or str(local))

    def mathlib_built(self) -> bool:
        build = self.mathlib_dir / ".lake" / "build" / "lib"
        return (build / "lean" / "Mathlib.olean").exists() or (build / "Mathlib.olean").exists()

    def process_config(self, *, max_rss_mb: float | None = REPL_MAX_RSS_MB) -> ProcessConfig:
        """How to start one REPL with Mathlib importable (``lake env`` in the Mathlib project)."""
        return ProcessConfig(
            command=[self.lake, "env", str(self.repl_binary)],
            cwd=self.mathlib_dir,
            max_rss_mb=max_rss_mb,
        )


@dataclass(frozen=True)
class Step:
    name: str
    argv: list[str]
    cwd: Path | None
    done: bool
    """Already satisfied; ``run_plan`` skips it."""


def setup_plan(setup: LeanSetup) -> list[Step]:
    """The steps that install elan, the toolchain, the REPL and Mathlib, in order."""
    elan = str(setup.elan_home / "bin" / "elan")
    toolchain_file = setup.repl_dir / "lean-toolchain"
    pinned = toolchain_file.exists() and toolchain_file.read_text().strip() == setup.toolchain
    return [
        Step(
            "install elan (the Lean version manager)",
            ["sh", "-c", f"curl -sSfL {ELAN_INIT_URL} | sh -s -- -y --default-toolchain none"],
            None,
            (setup.elan_home / "bin" / "elan").exists(),
        ),
        Step(
            f"install the Lean toolchain {setup.toolchain}",
            [elan, "toolchain", "install", setup.toolchain],
            None,
            setup.toolchain_dir.exists(),
        ),
        Step(
            f"clone the REPL at {setup.repl_rev}",
            ["git", "clone", "--depth", "1", "--branch", setup.repl_rev, REPL_URL, str(setup.repl_dir)],
            None,
            (setup.repl_dir / ".git").exists(),
        ),
        Step(
            f"pin the REPL to {setup.toolchain}",
            ["sh", "-c", f"printf '%s\\n' '{setup.toolchain}' > lean-toolchain"],
            setup.repl_dir,
            pinned,
        ),
        Step("build the REPL", [setup.lake, "build"], setup.repl_dir, setup.repl_binary.exists()),
        Step(
            f"clone Mathlib at {setup.mathlib_rev}",
            [
                "git", "clone", "--depth", "1", "--branch", setup.mathlib_rev,
                MATHLIB_URL, str(setup.mathlib_dir),
            ],
            None,
            (setup.mathlib_dir / ".git").exists(),
        ),
        Step(
            "download Mathlib's compiled cache",
            [setup.lake, "exe", "cache", "get"],
            setup.mathlib_dir,
            setup.mathlib_built(),
        ),
    ]  # fmt: skip


def check_reachable(url: str | None = None, timeout: float = 5.0) -> None:
    """Raise ``SetupError`` with instructions when the download host cannot be reached."""
    url = url or os.environ.get("STEPPROVER_DOWNLOAD_PROBE_URL", "https://github.com")
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout)
    except urllib.error.HTTPError:
        return  # the host answered
    except OSError as exc:  # URLError and timeouts are OSErrors
        raise SetupError(
            f"cannot reach {url} ({exc}). Lean, the REPL and Mathlib are downloaded from "
            "GitHub: run `stepprover lean setup` on a machine with internet access (or copy "
            "its ~/.elan and ~/.stepprover/lean here), then check with `stepprover lean doctor`."
        ) from exc


def run_plan(
    steps: list[Step], *, log: Callable[[str], None] = print, env: dict[str, str] | None = None
) -> None:
    """Run every step that is not done, stopping at the first failure."""
    for step in steps:
        if step.done:
            log(f"[done]    {step.name}")
            continue
        log(f"[running] {step.name}: {' '.join(step.argv)}")
        if step.cwd is not None:
            step.cwd.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(step.argv, cwd=step.cwd, env=env, check=False)
        if result.returncode != 0:
            raise SetupError(f"step '{step.name}' failed with exit code {result.returncode}")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def doctor(setup: LeanSetup) -> list[Check]:
    """What is present and what is missing for real Lean verification."""
    plan = {s.name: s for s in setup_plan(setup)}
    fix = "run `stepprover lean setup`"
    checks = [
        Check(name, step.done, str(step.cwd or ""), "" if step.done else fix)
        for name, step in plan.items()
    ]
    checks.append(
        Check(
            "REPL command",
            setup.repl_binary.exists() and setup.mathlib_built(),
            " ".join(setup.process_config().command),
            "" if setup.repl_binary.exists() else fix,
        )
    )
    return checks


def lean_ready(setup: LeanSetup) -> bool:
    return all(c.ok for c in doctor(setup))


def repl_process(
    repl: str | None,
    lean_dir: Path | None = None,
    *,
    sandbox: SandboxConfig | None = None,
    max_rss_mb: float | None = REPL_MAX_RSS_MB,
) -> ProcessConfig:
    """How to start one REPL: ``repl`` (a command line) if given, else the Lean from
    `stepprover lean setup`; under the sandbox when given (raises ``SandboxUnavailable``
    without its tools). The CLI, training and the service all start REPLs through here."""
    if repl:
        config = ProcessConfig(command=shlex.split(repl), max_rss_mb=max_rss_mb)
    else:
        setup = LeanSetup() if lean_dir is None else LeanSetup(root=lean_dir)
        config = setup.process_config(max_rss_mb=max_rss_mb)
    if sandbox is not None:
        config = dataclasses.replace(config, prefix=sandbox_prefix(sandbox, config.cwd))
    return config
