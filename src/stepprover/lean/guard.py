"""Run a command so that none of its processes outlives the process that started it.

Usage: ``python guard.py -- COMMAND [ARG...]`` (Linux; run by file path, it imports
nothing from stepprover so that it starts fast).

``lake env repl`` forks the REPL: a parent-death signal on the process we start does not
reach the grandchild, and a process group is only killed if someone is alive to kill it,
which is not the case when stepprover itself is killed with SIGKILL. So each REPL runs
under this small guard:

* the guard asks for SIGTERM when its parent (stepprover) dies, whatever the signal;
* it is a child subreaper, so every orphaned descendant is re-parented to it, not to init;
* its child gets SIGKILL when the guard dies;
* when the child exits, or the guard is told to stop (SIGTERM, SIGHUP, SIGINT), it kills
  every descendant, reaps them, and exits as its child did (the same code, or the same
  signal), so a caller sees the REPL's own exit status.

The guard keeps stderr only: its stdin and stdout are the REPL's, and it closes its own
copies so that the caller sees end-of-file exactly when the REPL's side closes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def _descendants(root: int) -> list[int]:
    """Pids below ``root`` (read from /proc; zombies included, they are reaped later)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        for pid in children.get(stack.pop(), []):
            found.append(pid)
            stack.append(pid)
    return found


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kill_descendants() -> None:
    """SIGKILL every descendant until none is left (orphans keep arriving: we are a subreaper)."""
    for _ in range(200):
        alive = _descendants(os.getpid())
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _reap()
        if not alive:
            return
        time.sleep(0.01)


def _exit_like(status: int) -> None:
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        if signum not in (signal.SIGKILL, signal.SIGSTOP):  # those two take no handler
            signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    sys.exit(os.waitstatus_to_exitcode(status))


def main(argv: list[str]) -> None:
    command = argv[1:] if argv[:1] == ["--"] else argv
    if not command:
        sys.stderr.write("usage: guard.py -- COMMAND [ARG...]\n")
        sys.exit(2)
    parent = os.getppid()
    stopped: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        # Kill the child here: the os.wait() below (retried after this handler, PEP 475)
        # then returns, and the guard exits as if killed by ``signum``.
        stopped.append(signum)
        _kill_descendants()

    for signum in _STOP_SIGNALS:
        signal.signal(signum, stop)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the signal was asked for
        sys.exit(1)
    status = None
    try:
        child = os.fork()
        if child == 0:
            try:
                for signum in _STOP_SIGNALS:
                    signal.signal(signum, signal.SIG_DFL)
                _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
                os.execvp(command[0], command)
            except OSError as exc:
                sys.stderr.write(f"cannot run {command[0]!r}: {exc}\n")
            os._exit(127)
        if stopped:  # told to stop while forking
            os.kill(child, signal.SIGKILL)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.close(devnull)
        while status is None:
            try:
                pid, wait_status = os.wait()
            except ChildProcessError:
                break
            if pid == child:
                status = wait_status
    finally:
        for signum in _STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        _kill_descendants()
    # a bare signal number is a wait status "killed by signum"
    _exit_like(stopped[0] if stopped else status if status is not None else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
