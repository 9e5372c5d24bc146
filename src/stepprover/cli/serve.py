"""`stepprover serve`: the HTTP verification service."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from stepprover.server.settings import ServiceSettings

SHUTDOWN_GRACE = 2
"""Seconds requests in flight may still finish after SIGTERM or Ctrl-C before they are cancelled."""


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free one).")
    ] = 8000,
    repl: Annotated[
        str | None,
        typer.Option(
            help="REPL command line instead of the installed Lean (the REPL_COMMAND setting)."
        ),
    ] = None,
    sandbox: Annotated[
        bool | None,
        typer.Option(
            "--sandbox/--no-sandbox",
            help="Run each REPL in the sandbox (the SANDBOX setting; default on).",
        ),
    ] = None,
) -> None:
    """Run the HTTP verification service (settings from STEPPROVER_SERVICE_* variables).

    Before it listens it checks that a REPL answers (exit 2 with one line if not); once
    listening it prints one line: the address, the number of REPL workers, whether the
    sandbox is on and whether a key is required. SIGTERM or Ctrl-C stops it within a few
    seconds: requests still running are answered 503 (retry later) and every REPL is killed."""
    import uvicorn

    from stepprover.server.app import create_app

    overrides: dict[str, Any] = {"repl_command": repl, "sandbox": sandbox}
    settings = settings_or_exit({k: v for k, v in overrides.items() if v is not None})
    app = create_app(settings)

    class Server(uvicorn.Server):
        stopped_by: int | None = None

        def handle_exit(self, sig: int, frame: Any) -> None:
            self.stopped_by = sig
            super().handle_exit(sig, frame)

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:  # bound and serving (a failed bind exits before this)
                bound = [s.getsockname() for srv in self.servers for s in srv.sockets]
                where = f"{host}:{bound[0][1]}" if bound else f"{host}:{port}"
                typer.echo(started_line(settings, where, app.state.service.pool.size))

        async def shutdown(self, sockets: Any = None) -> None:
            await super().shutdown(sockets=sockets)  # the app's lifespan closes the pool
            if self.started:  # said here: uvicorn then raises SIGTERM again, which ends us
                why = f" by {signal.Signals(self.stopped_by).name}" if self.stopped_by else ""
                typer.echo(f"stepprover serve: stopped{why}; every REPL worker is closed")

    # On SIGTERM/SIGINT, requests in flight get SHUTDOWN_GRACE seconds, then are cancelled
    # (answered 503, their workers killed) and the pool closes. uvicorn's default waits for
    # them: up to MAX_TIMEOUT (600 s) per proof.
    server = Server(
        uvicorn.Config(
            app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=SHUTDOWN_GRACE
        )
    )
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn raises the signal it caught again once it has stopped
        pass
    if server.stopped_by is not None:  # as the shell reports a process a signal ended: 130, 143
        raise typer.Exit(128 + server.stopped_by)


def settings_or_exit(overrides: dict[str, Any] | None = None) -> ServiceSettings:
    """The service's settings, checked before anything starts: one line and exit 2 for a
    variable that does not parse, Lean not set up, a sandbox that cannot be built or a REPL
    that does not answer a first command (a service that listens but can start no REPL would
    answer every proof with an infrastructure error)."""
    import dataclasses
    import shlex

    from pydantic import ValidationError

    from stepprover.cli.common import BAD_INPUT, fail, repl_starts_or_exit, require_lean
    from stepprover.errors import ReplStartError, SandboxUnavailable
    from stepprover.lean.process import check_executable
    from stepprover.server.settings import ServiceSettings

    try:
        settings = ServiceSettings(**(overrides or {}))
    except ValidationError as exc:
        fail("; ".join(_setting_error(e) for e in exc.errors()))
    if settings.repl_command:
        try:
            shlex.split(settings.repl_command)
        except ValueError as exc:  # unbalanced quotes, a trailing backslash
            fail(f"STEPPROVER_SERVICE_REPL_COMMAND is not a valid command line: {exc}")
    else:
        require_lean(  # serve: every start-up failure is exit 2 (README, exit status)
            settings.lean_dir,
            "set STEPPROVER_SERVICE_REPL_COMMAND (or pass --repl) to another REPL command",
            code=BAD_INPUT,
        )
    try:
        pool = settings.pool_config()
        if settings.repl_command:
            check_executable(dataclasses.replace(pool.process, prefix=()))
    except SandboxUnavailable as exc:
        fail(f"{exc} (or serve without it: --no-sandbox, STEPPROVER_SERVICE_SANDBOX=false)")
    except ReplStartError as exc:
        fail(f"STEPPROVER_SERVICE_REPL_COMMAND: {exc}")
    repl_starts_or_exit(pool.process, pool.warmup_timeout, code=BAD_INPUT)
    return settings


def _setting_error(error: Any) -> str:
    """One pydantic error as ``VARIABLE='input': why``; a check across settings (no single
    variable) is its message alone, which names the variables."""
    if not error["loc"]:
        return str(error["msg"]).removeprefix("Value error, ")
    name = "STEPPROVER_SERVICE_" + "_".join(map(str, error["loc"])).upper()
    return f"{name}={str(error.get('input'))[:80]!r}: {error['msg']}"


def settings_epilog() -> str:
    """The service's environment variables, for ``serve --help``."""
    from stepprover.server.settings import ServiceSettings

    names = ", ".join(f"STEPPROVER_SERVICE_{name.upper()}" for name in ServiceSettings.model_fields)
    return f"Settings, from environment variables: {names} (docs/service.md says what each does)."


def started_line(settings: ServiceSettings, where: str, workers: int) -> str:
    """What ``serve`` prints once it listens, e.g. ``stepprover serve: listening on
    http://127.0.0.1:8000 (docs at /docs); 4 REPL workers; sandbox on; no API key``."""
    sandbox = (
        "sandbox on" if settings.sandbox else "sandbox OFF (REPLs run with this user's rights)"
    )
    auth = "bearer token required" if settings.api_key else "no API key"
    plural = "" if workers == 1 else "s"
    return (
        f"stepprover serve: listening on http://{where} (docs at /docs); "
        f"{workers} REPL worker{plural}; {sandbox}; {auth}"
    )
