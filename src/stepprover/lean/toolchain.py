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

from stepprover.errors import SandboxUnavailable, SetupError
from stepprover.lean.lean_texts import COMPARATOR_NANODA_KEY
from stepprover.lean.process import ProcessConfig
from stepprover.lean.sandbox import SandboxConfig, sandbox_prefix

REPL_MAX_RSS_MB = 15_360.0
"""A REPL past this resident memory is killed and replaced (StepFun's demo limit)."""
ELAN_INIT_URL = "https://raw.githubusercontent.com/leanprover/elan/master/elan-init.sh"
REPL_URL = "https://github.com/leanprover-community/repl"
MATHLIB_URL = "https://github.com/leanprover-community/mathlib4"
COMPARATOR_URL = "https://github.com/leanprover/comparator"
LEAN4EXPORT_URL = "https://github.com/leanprover/lean4export"
LANDRUN_MODULE = "github.com/zouuup/landrun/cmd/landrun"
LANDRUN_VERSION = "v0.1.17"
"""Zouuup/landrun tag 62823c0 (go-landlock v0.9.0, Landlock ABI up to v9, ``--best-effort``
degrades on older kernels); comparator's README asks for landrun built from main."""


@dataclass(frozen=True)
class GoldPins:
    """The comparator and lean4export commits that work with one Lean version.

    lean4export loads the project's .olean files, so it is built with the project's
    Lean; comparator is built with its own pinned toolchain and parses lean4export's
    output, so the two must agree on the export format."""

    comparator_rev: str
    lean4export_rev: str
    note: str
    config_extra: tuple[tuple[str, bool], ...] = ()
    """Keys this comparator's config requires beyond the four every revision reads
    (``Main.lean``, ``structure Config``: a field without a default must be present)."""


GOLD_PINS: dict[str, GoldPins] = {
    # The first comparator with a config file (challenge_module, theorem_names,
    # permitted_axioms), built with v4.21.0-rc3; it parses lean4export's 2.0.0 text
    # format, which lean4export e6c7eaf writes. lean4export is pinned to the project's Lean.
    "v4.20.0-rc5": GoldPins(
        comparator_rev="90100840fd3e19d94143dea4fb8b2961e404efa0",
        lean4export_rev="e6c7eafbb83cfad518b196164ee977f7f0ba3701",
        note="comparator 9010084 (2025-09, its toolchain v4.21.0-rc3), lean4export e6c7eaf",
    ),
    # Tagged releases of both for the same Lean (NDJSON export format 3.1.0).
    "v4.30.0": GoldPins(
        comparator_rev="1cfc5d8ad183bf65efe7accd0efc175b6b8f25b6",
        lean4export_rev="a3e35a584f59b390667db7269cd37fca8575e4bf",
        note="comparator tag v4.30.0, lean4export tag v4.30.0",
        # comparator 1cfc5d8 Main.lean `structure Config`: `enable_nanoda : Bool`, no default
        config_extra=((COMPARATOR_NANODA_KEY, False),),
    ),
}
"""Lean versions the gold check supports (``stepprover lean setup --with-comparator``)."""


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

    @property
    def mathlib_stamp(self) -> Path:
        """Left by ``lean setup`` once ``lake build Mathlib`` succeeded."""
        return self.root / f"mathlib4-{self.mathlib_rev}.built"

    @property
    def repl_stamp(self) -> Path:
        """Left by ``lean setup`` once the REPL answered ``import Mathlib`` with env 0."""
        return self.root / f"repl-{self.repl_rev}-{self.lean_version}.answers-mathlib"

    def mathlib_built(self) -> bool:
        build = self.mathlib_dir / ".lake" / "build" / "lib"
        return (build / "lean" / "Mathlib.olean").exists() or (build / "Mathlib.olean").exists()

    @property
    def gold_pins(self) -> GoldPins:
        """The comparator/lean4export pins for this Lean; ``SetupError`` if there are none."""
        pins = GOLD_PINS.get(self.lean_version)
        if pins is None:
            raise SetupError(
                f"no comparator/lean4export pins for Lean {self.lean_version}; the gold check "
                f"supports {', '.join(GOLD_PINS)} (lean.toolchain.GOLD_PINS)"
            )
        return pins

    @property
    def gold_dir(self) -> Path:
        """Comparator, lean4export, landrun and the gold Lake projects of this Lean."""
        return self.root / f"gold-{self.lean_version}"

    @property
    def comparator_dir(self) -> Path:
        return self.gold_dir / "comparator"

    @property
    def comparator_binary(self) -> Path:
        return self.comparator_dir / ".lake" / "build" / "bin" / "comparator"

    @property
    def lean4export_dir(self) -> Path:
        return self.gold_dir / "lean4export"

    @property
    def gold_bin(self) -> Path:
        """``landrun`` and ``lean4export``, put first on comparator's PATH."""
        return self.gold_dir / "bin"

    @property
    def landrun_binary(self) -> Path:
        return self.gold_bin / "landrun"

    @property
    def lean4export_binary(self) -> Path:
        return self.gold_bin / "lean4export"

    @property
    def gold_projects(self) -> Path:
        """One small Lake project per statement (see ``lean.gold``)."""
        return self.gold_dir / "projects"

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
    evidence: str = ""
    """What ``done`` was decided on (a file that exists, a stamp a verified run left), for
    ``doctor``; empty: the path in ``cwd``."""
    stdin: bytes | None = None
    """Fed to the command (then end of input)."""
    check: Callable[[bytes], str | None] | None = None
    """Judges the command's stdout: why it is not right, or None. Output is captured."""
    stamp: Path | None = None
    """Written (``stamp_text``) after the step succeeded: later plans count it done."""
    stamp_text: str = ""
    timeout: float | None = None

    @property
    def shown(self) -> str:
        """The command as a person would type it: a ``sh -c`` script in double quotes
        (``shlex.join`` would write its single quotes as ``'"'"'``)."""
        if self.argv[:2] == ["sh", "-c"] and len(self.argv) == 3 and '"' not in self.argv[2]:
            return f'sh -c "{_double_quoted(self.argv[2])}"'
        return shlex.join(self.argv)


REPL_CHECK_REQUEST = b'{"cmd": "import Mathlib"}\n\n'
"""What ``lean setup`` asks the installed REPL before it says done (then end of input, on
which the REPL's loop returns)."""


def check_mathlib_reply(stdout: bytes) -> str | None:
    """None if the REPL answered ``import Mathlib`` with environment 0 and no error, else why
    not. The pinned REPL's test/Mathlib transcripts answer a first command with ``"env": 0``."""
    from stepprover.errors import ReplProtocolError
    from stepprover.lean.protocol import CommandReply, parse_reply, split_messages

    replies = split_messages(stdout.decode(errors="replace"))
    if not replies:
        return "the REPL printed no reply to `import Mathlib`"
    try:
        reply = parse_reply(replies[0])
    except ReplProtocolError as exc:
        return f"the REPL's reply to `import Mathlib` is not a reply: {exc}"
    if not isinstance(reply, CommandReply):
        return f"the REPL refused `import Mathlib`: {replies[0][:300]}"
    if errors := [m.data for m in reply.messages if m.severity == "error"]:
        return f"`import Mathlib` failed in the REPL: {errors[0][:300]}"
    if reply.env != 0:
        return f"the REPL answered `import Mathlib` with env {reply.env}, not 0"
    return None


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
            evidence=f"file exists: {setup.elan_home / 'bin' / 'elan'}",
        ),
        Step(
            f"install the Lean toolchain {setup.toolchain}",
            [elan, "toolchain", "install", setup.toolchain],
            None,
            setup.toolchain_dir.exists(),
            evidence=f"folder exists: {setup.toolchain_dir}",
        ),
        Step(
            f"clone the REPL at {setup.repl_rev}",
            [
                "git", "clone", "--depth", "1", "--branch", setup.repl_rev, REPL_URL,
                str(setup.repl_dir),
            ],
            None,
            (setup.repl_dir / ".git").exists(),
            evidence=f"folder exists: {setup.repl_dir / '.git'}",
        ),
        Step(
            f"pin the REPL to {setup.toolchain}",
            ["sh", "-c", f"printf '%s\\n' '{setup.toolchain}' > lean-toolchain"],
            setup.repl_dir,
            pinned,
            evidence=f"file reads {setup.toolchain}: {toolchain_file}",
        ),
        Step("build the REPL", [setup.lake, "build"], setup.repl_dir, setup.repl_binary.exists(),
             evidence=f"file exists: {setup.repl_binary}"),
        Step(
            f"clone Mathlib at {setup.mathlib_rev}",
            [
                "git", "clone", "--depth", "1", "--branch", setup.mathlib_rev,
                MATHLIB_URL, str(setup.mathlib_dir),
            ],
            None,
            (setup.mathlib_dir / ".git").exists(),
            evidence=f"folder exists: {setup.mathlib_dir / '.git'}",
        ),
        Step(
            "download Mathlib's compiled cache",
            [setup.lake, "exe", "cache", "get"],
            setup.mathlib_dir,
            setup.mathlib_built(),
            evidence=f"file exists: {setup.mathlib_dir / '.lake/build/lib/lean/Mathlib.olean'}",
        ),
        # As the REPL's own test/Mathlib/test.sh does after the cache: builds what the cache
        # lacks (nothing when it is complete) and elaborates Mathlib's lakefile outside any
        # sandbox, so a later `lake env` there has nothing to write.
        Step(
            "build Mathlib (what the cache lacks)",
            [setup.lake, "build", "Mathlib"],
            setup.mathlib_dir,
            setup.mathlib_built() and _stamped(setup.mathlib_stamp, setup.version_label),
            evidence=f"verified: `lake build Mathlib` exited 0 (stamp {setup.mathlib_stamp})",
            stamp=setup.mathlib_stamp,
            stamp_text=setup.version_label,
        ),
        Step(
            "check that the REPL answers `import Mathlib` with env 0",
            list(setup.process_config().command),
            setup.mathlib_dir,
            setup.repl_binary.exists() and setup.mathlib_built()
            and _stamped(setup.repl_stamp, setup.version_label),
            evidence=f"verified: the REPL answered `import Mathlib` with env 0 "
            f"(stamp {setup.repl_stamp})",
            stdin=REPL_CHECK_REQUEST,
            check=check_mathlib_reply,
            stamp=setup.repl_stamp,
            stamp_text=setup.version_label,
            timeout=1800.0,
        ),
    ]  # fmt: skip


def _stamped(stamp: Path, text: str) -> bool:
    try:
        return stamp.read_text() == text
    except OSError:
        return False


def gold_setup_plan(setup: LeanSetup) -> list[Step]:
    """The steps that install comparator, lean4export and landrun for ``setup``'s Lean.

    Raises ``SetupError`` when the Lean version has no pins (``GOLD_PINS``)."""
    pins = setup.gold_pins
    exporter = setup.lean4export_dir
    exporter_built = exporter / ".lake" / "build" / "bin" / "lean4export"
    toolchain_file = exporter / "lean-toolchain"
    pinned = toolchain_file.exists() and toolchain_file.read_text().strip() == setup.toolchain

    def at_rev(folder: Path, rev: str) -> bool:
        head = folder / ".git" / "HEAD"
        return head.exists() and head.read_text().strip() == rev

    return [
        Step(
            f"clone comparator at {pins.comparator_rev[:12]}",
            ["sh", "-c", (f"git clone {COMPARATOR_URL} {shlex.quote(str(setup.comparator_dir))} && "
             f"git -C {shlex.quote(str(setup.comparator_dir))} "
             f"checkout --detach {pins.comparator_rev}")],
            None,
            at_rev(setup.comparator_dir, pins.comparator_rev),
        ),
        Step("build comparator (with its own pinned toolchain)",
             [setup.lake, "build", "comparator"], setup.comparator_dir,
             setup.comparator_binary.exists()),
        Step(
            f"clone lean4export at {pins.lean4export_rev[:12]}",
            ["sh", "-c", (f"git clone {LEAN4EXPORT_URL} {shlex.quote(str(exporter))} && "
             f"git -C {shlex.quote(str(exporter))} checkout --detach {pins.lean4export_rev}")],
            None,
            at_rev(exporter, pins.lean4export_rev),
        ),
        Step(
            f"pin lean4export to {setup.toolchain}",
            ["sh", "-c", f"printf '%s\\n' '{setup.toolchain}' > lean-toolchain"],
            exporter,
            pinned,
        ),
        Step("build lean4export", [setup.lake, "build", "lean4export"], exporter,
             exporter_built.exists()),
        Step(
            "put lean4export on comparator's PATH",
            ["ln", "-sfn", str(exporter_built), str(setup.lean4export_binary)],
            setup.gold_bin,
            setup.lean4export_binary.exists(),
        ),
        Step(
            f"install landrun {LANDRUN_VERSION} (needs Go >= 1.24)",
            [
                "env", f"GOBIN={setup.gold_bin}", "go", "install",
                f"{LANDRUN_MODULE}@{LANDRUN_VERSION}",
            ],
            setup.gold_bin,
            setup.landrun_binary.exists(),
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
        log(f"[running] {step.name}: {step.shown}")
        if step.cwd is not None:
            step.cwd.mkdir(parents=True, exist_ok=True)
        try:
            result = subprocess.run(
                step.argv, cwd=step.cwd, env=env, check=False, input=step.stdin,
                stdout=subprocess.PIPE if step.check else None, timeout=step.timeout,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SetupError(f"step '{step.name}' could not run: {exc}") from exc
        if result.returncode != 0:
            raise SetupError(f"step '{step.name}' failed with exit code {result.returncode}")
        if step.check is not None and (why := step.check(result.stdout or b"")):
            raise SetupError(f"step '{step.name}' failed: {why}")
        if step.stamp is not None:
            step.stamp.parent.mkdir(parents=True, exist_ok=True)
            step.stamp.write_text(step.stamp_text)


def _double_quoted(text: str) -> str:
    """``text`` for a shell's double quotes: ``$`` and a backtick escaped, a backslash only
    where the shell would read it as an escape (before ``$ ` \\`` or a newline)."""
    out = []
    for i, char in enumerate(text):
        after = text[i + 1 : i + 2]
        if char in "$`" or (char == "\\" and after in ("$", "`", "\\", "\n", "")):
            out.append("\\")
        out.append(char)
    return "".join(out)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    evidence: str = ""
    """What the check looked at: a file that exists, or ``verified: …`` where ``lean setup``
    ran the step and checked its result (a stamp it left)."""
    failed_as: str = "missing"
    """What the doctor's table says when the check fails."""


def doctor(setup: LeanSetup) -> list[Check]:
    """What is present and what is missing for real Lean verification, each with what it was
    decided on (which steps ``lean setup`` verified by running them)."""
    plan = {s.name: s for s in setup_plan(setup)}
    fix = "run `stepprover lean setup`"
    checks = [
        Check(
            name, step.done, str(step.cwd or ""), "" if step.done else fix,
            step.evidence or f"exists: {step.cwd or ''}",
        )
        for name, step in plan.items()
    ]  # fmt: skip
    checks.append(
        Check(
            "the REPL runnable with Mathlib built",
            setup.repl_binary.exists() and setup.mathlib_built(),
            " ".join(setup.process_config().command),
            "" if setup.repl_binary.exists() else fix,
        )
    )
    return checks


def landlock_abi() -> int | None:
    """The kernel's Landlock ABI version, or None when Landlock is unavailable (Linux only).

    Asks ``landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)``
    (syscall 444 on x86-64 and arm64), as landrun's go-landlock does."""
    import ctypes
    import platform
    import sys

    if not sys.platform.startswith("linux") or platform.machine() not in ("x86_64", "aarch64"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return abi if abi > 0 else None


def gold_doctor(setup: LeanSetup) -> list[Check]:
    """What the gold check (comparator) needs, present or missing."""
    fix = "run `stepprover lean setup --with-comparator`"
    try:
        steps = gold_setup_plan(setup)
    except SetupError as exc:
        return [Check("comparator pins for this Lean", False, "", str(exc))]
    checks = [Check(s.name, s.done, str(s.cwd or ""), "" if s.done else fix) for s in steps]
    abi = landlock_abi()
    checks.append(
        Check(
            "Landlock (for landrun)",
            abi is not None,
            f"ABI v{abi}" if abi else "",
            "" if abi else "needs Linux >= 5.13 with Landlock enabled (lsm=...,landlock)",
        )
    )
    root = os.geteuid() == 0 if hasattr(os, "geteuid") else False
    checks.append(
        Check(
            "unprivileged user (for comparator)",
            not root,
            "" if root else "not root",
            "run --gold checks as a user other than root: comparator's guarantees assume it"
            if root
            else "",
            failed_as="running as root",
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
    without its tools, or when Lake cannot give the installed REPL's environment). The CLI,
    training and the service all start REPLs through here."""
    setup = LeanSetup() if lean_dir is None else LeanSetup(root=lean_dir)
    if repl:
        config = ProcessConfig(command=shlex.split(repl), max_rss_mb=max_rss_mb)
    else:
        config = setup.process_config(max_rss_mb=max_rss_mb)
    if sandbox is None:
        return config
    if not repl:
        # No Lake inside: the REPL binary with the environment `lake env` gives it, taken
        # outside (Lake may write .lake/lakefile.olean where the sandbox is read-only).
        try:
            env = lake_environment(setup)
        except SetupError as exc:
            raise SandboxUnavailable(f"the sandboxed REPL needs Lake's environment: {exc}") from exc
        config = dataclasses.replace(config, command=[str(setup.repl_binary)], env=env)
    elif setup.elan_home.is_dir():  # a custom command may run elan's `lake` or `lean`
        sandbox = dataclasses.replace(
            sandbox, env=(("ELAN_HOME", str(setup.elan_home)), *sandbox.env)
        )
    return dataclasses.replace(config, prefix=sandbox_prefix(sandbox, config.cwd))


def lake_environment(setup: LeanSetup, timeout: float = 120.0) -> dict[str, str]:
    """The environment ``lake env`` runs a command with in the Mathlib project (LEAN_PATH,
    LEAN_SYSROOT, PATH...), read by running ``lake env printenv -0`` there.

    Raises ``SetupError`` when Lake cannot say (not installed, or it fails)."""
    try:
        result = subprocess.run(
            [setup.lake, "env", "printenv", "-0"], cwd=setup.mathlib_dir,
            capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupError(f"cannot ask Lake for the REPL's environment: {exc}") from exc
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace").strip()[-300:]
        raise SetupError(
            f"`lake env` failed in {setup.mathlib_dir} (exit {result.returncode}): {tail}; "
            "check with `stepprover lean doctor`"
        )
    pairs = (item.partition("=") for item in result.stdout.decode().split("\0") if item)
    return {name: value for name, _, value in pairs if name}
