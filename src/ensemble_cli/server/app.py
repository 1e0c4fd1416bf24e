"""The FastAPI app: an assembly of the server's parts, each in a module of its own.

``state`` (what routes read, readiness), ``auth`` (the API-key middleware, the web UI's cookie
included), ``errors`` (OpenAI error bodies, 400 for validation), ``routes`` (one router per group
of endpoints) and ``jobs`` (handing work to the engine thread). Handlers stay non-blocking:
request checks that tokenize run in a worker thread, generation runs on the engine thread, and a
handler only awaits a future (or, for ``stream: true``, an event feed). A non-streaming handler
cancels its job when its client disconnects; a streaming response cancels its job when its
generator is closed.
"""

from __future__ import annotations

from fastapi import FastAPI

from .auth import install_auth
from .errors import from_exception, install
from .routes import ROUTERS
from .state import ServerState


def create_app(state: ServerState) -> FastAPI:
    """An app serving ``state``; starting and stopping the engine is the caller's job."""
    app = FastAPI(
        title="ensemble-cli",
        summary="An OpenAI-compatible server running an ensemble recipe",
        version=_version(),
    )
    app.state.server = state
    install(app)
    install_auth(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


def _version() -> str:
    from .. import __version__

    return __version__


__all__ = ["ServerState", "create_app", "from_exception"]  # ServerState: the web UI mounts on it
