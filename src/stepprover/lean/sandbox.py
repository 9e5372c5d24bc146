"""Running each REPL in a sandbox: an unprivileged user, bubblewrap, rlimits.

The prefix goes before the REPL command (``ProcessConfig.prefix``):

    setpriv --reuid=U --regid=G --clear-groups    drop root: RLIMIT_NPROC binds only non-root users
    prlimit --as --cpu --nproc --fsize --          resource limits, inherited by everything below
    bwrap --unshare-all ...                         no network, private PID/IPC/UTS namespaces,
                                                    the filesystem read-only, a private /tmp

Lean, Mathlib and the REPL must be readable by that user (install them outside
``/root`` or a home only root can read, e.g. ``STEPPROVER_LEAN_DIR=/opt/stepprover``).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from stepprover.errors import SandboxUnavailable

NOBODY = 65534



@dataclass(frozen=True)
class SandboxConfig:
    uid: int = NOBODY
    gid: int = NOBODY
    memory_mb: int = 20_480
    """RLIMIT_AS (address space; Lean maps Mathlib's oleans, so leave room)."""
    cpu_seconds: int = 3600
    processes: int = 256
    """RLIMIT_NPROC for the sandbox user (shared by all its processes)."""
    file_mb: int = 1024
    """RLIMIT_FSIZE: the largest file the REPL may write."""
    writable: Sequence[Path] = ()
    """Extra folders the REPL may write (e.g. a pickle folder); /tmp is always private."""


def check_tools() -> None:
    missing = [tool for tool in ("bwrap", "prlimit", "setpriv") if shutil.which(tool) is None]
    if missing:
        raise SandboxUnavailable(
            f"sandbox tools not found: {', '.join(missing)}. Install them with "
            "`apt-get install bubblewrap util-linux`, or turn the sandbox off."
        )


def sandbox_prefix(config: SandboxConfig, cwd: Path | None = None) -> list[str]:
    """The argv prefix that runs a command inside the sandbox."""
    check_tools()
    mb = 1024 * 1024
    prefix = [
        "setpriv", f"--reuid={config.uid}", f"--regid={config.gid}", "--clear-groups",
        "--no-new-privs",
        "prlimit", f"--as={config.memory_mb * mb}", f"--cpu={config.cpu_seconds}",
        f"--nproc={config.processes}", f"--fsize={config.file_mb * mb}", "--",
        "bwrap", "--unshare-all", "--die-with-parent",
        "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
    ]  # fmt: skip
    for folder in config.writable:
        prefix += ["--bind", str(folder), str(folder)]
    if cwd is not None:
        prefix += ["--chdir", str(cwd)]
    return [*prefix, "--"]
