"""What the server is and whether it can answer: ``/health``, ``/status``, ``/v1/models``."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..errors import error_body
from ..schemas import ModelCard, ModelList
from ..state import State

router = APIRouter()


@router.get("/health", summary="200 when the models are loaded, 503 while loading")
async def health(state: State) -> JSONResponse:
    engine = state.engine
    if engine.ready:
        return JSONResponse({"status": "ok"})
    status = "loading" if engine.state == "loading" else engine.state
    body = error_body(503, f"not ready: {status}", code=status)
    body["status"] = status
    return JSONResponse(body, status_code=503)


@router.get("/status", summary="Recipe, members, queue depth, requests served, uptime")
async def status(state: State) -> dict[str, Any]:
    pipelines, engine = state.pipelines, state.engine
    resolved = pipelines.recipe
    return {
        "recipe": resolved.name,
        "recipe_hash": resolved.hash,
        "state": engine.state,
        "methods": {
            "selector": resolved.selector.type,
            "aggregator": resolved.aggregator.type,
            "scorer": resolved.scorer.type if resolved.scorer else None,
        },
        "members": [
            {"name": m.name, "generator": m.type, "model": getattr(m.config, "model", None)}
            for m in resolved.models
        ],
        "models": pipelines.model_names,
        "queue_depth": engine.depth,
        "in_flight": engine.in_flight,
        "requests_served": engine.served,
        "requests_failed": engine.failed,
        "requests_cancelled": engine.cancelled,
        "batches": engine.batches,
        "max_batch": engine.max_batch,
        "max_queue": engine.max_queue,
        "uptime_s": round(time.time() - state.started, 3),
    }


@router.get("/v1/models", response_model=ModelList)
async def models(state: State) -> ModelList:
    created = int(state.started)
    pipelines = state.pipelines
    recipe = pipelines.recipe.name
    cards = [ModelCard(id=recipe, created=created, root=recipe)]
    cards += [ModelCard(id=m, created=created, root=m, parent=recipe) for m in pipelines.model_names[1:]]
    cards += [ModelCard(id=name, created=created, root=name) for name in pipelines.extra_names]  # the UI's recipes
    return ModelList(data=cards)
