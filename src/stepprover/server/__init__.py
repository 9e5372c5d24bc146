"""The HTTP verification service: a FastAPI app over the warm REPL pool (its request and
response models live in ``stepprover.lean.wire``, shared with the client)."""

from stepprover.server.app import create_app
from stepprover.server.settings import ServiceSettings

__all__ = ["ServiceSettings", "create_app"]
