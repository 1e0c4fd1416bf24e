"""Start the server: serve an ``Ensemble``, start uvicorn at once, load models on the engine thread.

The ``Ensemble`` (built by the caller with ``Ensemble.from_recipe``, as a notebook builds one) is
the one path from the recipe to loaded models: the engine thread calls its ``load`` and runs
requests on its pipeline (``pipelines``); the caller closes it.

The HTTP port opens before the models load so ``/health`` can answer 503 while they do (load
progress goes to stderr). If loading fails the server stops and the error reaches the CLI boundary
(exit code of the error). SIGTERM and SIGINT stop accepting connections, let every in-flight
request finish (uvicorn waits for open requests; the engine finishes every submitted job), then the
process exits 0: uvicorn would otherwise re-raise the signal after its graceful shutdown, which
turns a clean drain into "killed by SIGTERM".
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn

from .app import ServerState, create_app
from .engine import Engine
from .pipelines import Pipelines
from .service import Limits

if TYPE_CHECKING:
    from ..api.ensemble import Ensemble
    from ..ui.app import UIOptions


class _DrainingServer(uvicorn.Server):
    """uvicorn's graceful shutdown, without re-raising the signal afterwards (exit 0 on SIGTERM)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def serve(
    ensemble: Ensemble,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    max_batch: int = 8,
    max_queue: int = 256,
    max_tokens_cap: int | None = None,
    log: Callable[[str], None] | None = None,
    ui: UIOptions | None = None,
) -> None:
    """Run until SIGTERM/SIGINT; raises the load error if the models cannot be loaded.

    ``ui`` mounts the web UI at ``/ui`` on the same app (``ensemble_cli.ui``)."""
    say = log or (lambda text: print(text, file=sys.stderr, flush=True))
    resolved = ensemble.resolved
    server: _DrainingServer | None = None

    def load() -> None:
        t0 = time.perf_counter()
        say(f"loading {len(ensemble.members)} model(s)…")
        ensemble.load(on_event=lambda event: say(str(event)))  # converting / loading / loaded, one line each
        say(f"ready: serving recipe '{resolved.name}' at http://{host}:{port}/v1 "
            f"(models loaded in {time.perf_counter() - t0:.1f} s)")

    def failed(exc: BaseException) -> None:
        if server is not None:
            server.should_exit = True

    engine = Engine(load=load, max_batch=max_batch, max_queue=max_queue, on_failed=failed)
    state = ServerState(Pipelines(ensemble), engine, Limits(max_tokens_cap), api_key)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        engine.start()
        try:
            yield
        finally:
            say("shutting down: finishing in-flight requests…")
            engine.stop(timeout=600)  # in-flight jobs finish; a stuck one cannot hang the exit forever

    app = create_app(state)
    if ui is not None:
        from ..ui.app import mount_ui

        mount_ui(app, state, ui)
    app.router.lifespan_context = lifespan
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=None, lifespan="on")
    server = _DrainingServer(config)
    say(f"listening on http://{host}:{port} (recipe '{resolved.name}', hash {resolved.hash})")
    if ui is not None:
        say(f"web UI: http://{host}:{port}/ui")
    server.run()
    if engine.error is not None:
        raise engine.error
    say(f"stopped after serving {engine.served} request(s)")
