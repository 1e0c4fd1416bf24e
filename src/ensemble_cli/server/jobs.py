"""Handing work to the engine thread from a request handler, without blocking the event loop.

``submit`` turns a full queue into a 503; ``run_job`` awaits a job's outputs while listening for
the client's disconnect, and cancels the job when the client has gone (499) or the handler is
cancelled; the engine's error, if any, is re-raised as the ``APIError`` it maps to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import Request

from .engine import Engine, Job, QueueFull
from .errors import APIError, from_exception

#: ``finish(outputs, error)``, called on the engine thread when a job is done
Finish = Callable[[Any, Any], None]


def submit(engine: Engine, job: Job) -> None:
    """Queue ``job``; 503 when the queue is full."""
    try:
        engine.submit(job)
    except QueueFull as exc:
        raise APIError(503, f"server busy: {exc}", code="queue_full") from None


async def run_job(engine: Engine, make: Callable[[Finish], Job], request: Request) -> list[Any]:
    """Submit the job ``make(finish)`` builds and await its outputs."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[tuple[Any, Any]] = loop.create_future()

    def resolve(outputs: Any, error: Any) -> None:
        if not fut.done():
            fut.set_result((outputs, error))

    job = make(lambda outputs, error: loop.call_soon_threadsafe(resolve, outputs, error))
    submit(engine, job)
    watcher = asyncio.ensure_future(disconnected(request))
    try:
        await asyncio.wait({fut, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if not fut.done():
            job.cancel()
            raise APIError(499, "the client closed the request")
    except asyncio.CancelledError:
        job.cancel()
        raise
    finally:
        watcher.cancel()
    outputs, error = fut.result()
    if error is not None:
        raise from_exception(error)
    return outputs


async def disconnected(request: Request) -> None:
    """Return when the client closes the connection (the body is read already, so the next ASGI
    message is ``http.disconnect``), the way Starlette's streaming response listens for it."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
