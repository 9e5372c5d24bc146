"""`stepprover serve`: the HTTP verification service."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Run the HTTP verification service (settings from STEPPROVER_SERVICE_* variables)."""
    import uvicorn

    from stepprover.server.app import create_app
    from stepprover.server.settings import ServiceSettings

    uvicorn.run(create_app(ServiceSettings()), host=host, port=port, log_level="warning")
