"""Running each REPL in a sandbox: an unprivileged user, bubblewrap, rlimits.

The prefix goes before the REPL command (``ProcessConfig.prefix``):

    setpriv --reuid=U --regid=G --clear-groups    drop root: RLIMIT_NPROC binds only non-root users
    prlimit --as --cpu --nproc --fsize --          resource limits, inherited by everything below
    bwrap --unshare-all ...                         no network, private PID/IPC/UTS namespaces,
                                                    the filesystem read-only, a private /tmp

Lean, Mathlib and the REPL must be readable by that user (install them outside
``/root`` or a home only root can read, e.g. ``STEPPROVER_LEAN_DIR=/opt/stepprover``).
Inside, ``HOME`` is the private ``/tmp``: an inherited ``HOME`` (``/root``) is one the
sandbox user cannot read, and elan looks for its toolchains under ``$HOME/.elan`` when
``ELAN_HOME`` is unset. The installed REPL is started without Lake inside the sandbox
(``toolchain.repl_process``): Lake may write ``.lake/lakefile.olean`` (and a lock next to
it) when it loads Mathlib's ``lakefile.lean``, and the sandbox's filesystem is read-only.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stepprover.errors import SandboxUnavailable

NOBODY = 65534
USER_VAR = "STEPPROVER_SANDBOX_USER"
"""``UID`` or ``UID:GID`` the sandboxed REPLs run as (default nobody, 65534:65534)."""


def sandbox_user(value: str | None = None, name: str = USER_VAR) -> tuple[int, int]:
    """(uid, gid) from ``UID`` or ``UID:GID`` (default: the ``STEPPROVER_SANDBOX_USER``
    variable, else nobody). ``RLIMIT_NPROC`` counts every process of that uid on the machine,
    so two services (or test runs) that share one user share its process limit too: give
    each its own. Any unused number works; it needs no passwd entry, only read access to
    Lean. ``name`` is where ``value`` came from, for the error: ``SandboxUnavailable`` for
    anything but numbers in 1..4294967294."""
    if value is None:
        value, name = os.environ.get(USER_VAR, ""), USER_VAR
    if not value.strip():
        return NOBODY, NOBODY
    uid_text, colon, gid_text = value.strip().partition(":")
    try:
        uid = int(uid_text)
        gid = int(gid_text) if colon else uid  # "65534:" names no group: refused
    except ValueError:
        uid = gid = -1
    if not (0 < uid < 2**32 - 1 and 0 < gid < 2**32 - 1):
        raise SandboxUnavailable(
            f"{name}={value!r}: give UID or UID:GID, numbers from 1 to 4294967294 "
            "(not root: the process limit does not bind root)"
        )
    return uid, gid


def default_processes(cpus: int | None = None) -> int:
    """RLIMIT_NPROC for the sandbox user. Linux counts the user's *threads* against it
    (setrlimit(2): "the number of extant process (or, more precisely on Linux, threads)"),
    and each REPL's Lean runtime starts a task-manager worker per hardware thread
    (``lean_init_task_manager``: ``hardware_concurrency()``). 256 on a 128-core machine
    would stop the second REPL's threads, so leave room for 16 REPLs of one worker per
    core each, and never less than 256 (still a bound on a fork bomb)."""
    cores = cpus if cpus is not None else (os.cpu_count() or 1)
    return max(256, 16 * (cores + 16))


@dataclass(frozen=True)
class SandboxConfig:
    uid: int = field(default_factory=lambda: sandbox_user()[0])
    gid: int = field(default_factory=lambda: sandbox_user()[1])
    memory_mb: int = 20_480
    """RLIMIT_AS (address space; Lean maps Mathlib's oleans, so leave room)."""
    cpu_seconds: int = 3600
    processes: int = field(default_factory=default_processes)
    """RLIMIT_NPROC for the sandbox user: threads of all its processes on the machine
    (``default_processes``)."""
    file_mb: int = 1024
    """RLIMIT_FSIZE: the largest file the REPL may write."""
    writable: Sequence[Path] = ()
    """Extra folders the REPL may write (e.g. a pickle folder); /tmp is always private."""
    env: Sequence[tuple[str, str]] = ()
    """Variables set inside (after ``HOME=/tmp``), e.g. ``ELAN_HOME`` for a ``lake`` command."""


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
        "--setenv", "HOME", "/tmp",
    ]  # fmt: skip
    for name, value in config.env:
        prefix += ["--setenv", name, value]
    for folder in config.writable:
        prefix += ["--bind", str(folder), str(folder)]
    if cwd is not None:
        prefix += ["--chdir", str(cwd)]
    return [*prefix, "--"]
