"""How a command ends on Ctrl-C or SIGTERM: the same clean stop (every REPL killed, what was
reached kept), one line on stderr, and the exit status shells give that signal."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}
"""128 + the signal's number, as a shell reports a process that signal ended."""

_LINE = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated (SIGTERM)"}
_received: list[int] = []


@contextmanager
def sigterm_stops() -> Iterator[None]:
    """Inside the block SIGTERM stops the command as Ctrl-C does (Python's default would end
    the process on the spot: no line, nothing cleaned up but what the REPL guard kills).
    The handler before it is put back after (commands also run in-process, under tests)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    _received.clear()
    before = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    on_sigint = signal.getsignal(signal.SIGINT)
    if callable(on_sigint) and on_sigint is not signal.default_int_handler:
        on_sigint(signal.SIGINT, frame)  # asyncio.run's: cancels its main task, a clean stop
    else:
        raise KeyboardInterrupt


def stopped_by() -> signal.Signals:
    """The signal that stopped the command (a KeyboardInterrupt without SIGTERM is Ctrl-C)."""
    return signal.Signals(_received[0]) if _received else signal.SIGINT


def stop_line() -> str:
    return _LINE[stopped_by()]


def stop_status() -> int:
    return EXIT_STATUS[stopped_by()]
