"""What every route reads: the served ensemble's pipelines, the engine, limits and the key.

One ``ServerState`` per app, stored on ``app.state.server`` by ``create_app``; routes reach it
through the ``State`` dependency (module-level routers, no closures over it), and the web
UI (``ensemble_cli.ui.app``) reads the same object. ``require_ready`` is the readiness gate every
route that needs the models passes first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from .engine import Engine
from .errors import APIError
from .pipelines import Pipelines
from .service import Limits


@dataclass
class ServerState:
    pipelines: Pipelines
    engine: Engine
    limits: Limits = field(default_factory=Limits)
    api_key: str | None = None
    ui: bool = False  #: the web UI is mounted: its key cookie counts as the key
    started: float = field(default_factory=time.time)


def server_state(request: Request) -> ServerState:
    """The app's ``ServerState`` (a FastAPI dependency)."""
    state: ServerState = request.app.state.server
    return state


#: a route's parameter ``state: State`` receives the app's ``ServerState``
State = Annotated[ServerState, Depends(server_state)]


def require_ready(engine: Engine) -> None:
    """503 while the models load (or after the engine failed or stopped), naming the state."""
    if engine.state == "loading":
        raise APIError(503, "the models are still loading; retry shortly (see GET /health)", code="loading")
    if engine.state != "ready":
        raise APIError(503, f"the engine is {engine.state}", code="unavailable")
