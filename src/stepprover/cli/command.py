"""The classes every command of the app is made with: tidy help texts (``cli.help``), SIGTERM
stopping a command as Ctrl-C does (``cli.signals``), and one line instead of a traceback when
the output cannot be written (a full disk) or a database is damaged."""

from __future__ import annotations

import errno
import os
import sqlite3
import sys
from typing import Any

import typer
import typer.core

from stepprover.cli.help import tidy
from stepprover.cli.signals import sigterm_stops, stop_line, stop_status
from stepprover.eval.store import disk_full, disk_full_line

_UNWRITABLE = frozenset({errno.ENOSPC, errno.EDQUOT})  # (a closed pipe is click's: exit 1, quietly)


class Command(typer.core.TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return tidy(super().get_params(ctx), ctx)

    def invoke(self, ctx: Any) -> Any:
        try:
            try:
                with sigterm_stops():
                    return super().invoke(ctx)
            finally:
                sys.stdout.flush()  # here, not at exit, where a failure is only a warning
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM that no command-specific line caught
            sys.stderr.write(stop_line() + "\n")
            raise typer.Exit(stop_status()) from None
        except sqlite3.DatabaseError as exc:  # found past the open (which names the file)
            if disk_full(exc):  # not damage: moving the database aside would lose a sound run
                sys.stderr.write(f"stepprover: {disk_full_line(None)}\n")
                raise typer.Exit(2) from None
            # a page cut off
            sys.stderr.write(
                f"stepprover: a database this command uses is damaged ({exc}): the run "
                "folder's run.sqlite or gold.sqlite, or the verdict cache's verdicts.sqlite\n"
            )
            raise typer.Exit(2) from None
        except OSError as exc:
            if exc.errno not in _UNWRITABLE:
                raise
            # stdout may be the stream that failed: stop writing to it (and say why on stderr)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            where = f" {exc.filename}" if exc.filename else ""
            sys.stderr.write(f"stepprover: cannot write the output{where}: {exc.strerror}\n")
            raise typer.Exit(2) from None


class Group(typer.core.TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return tidy(super().get_params(ctx), ctx)
