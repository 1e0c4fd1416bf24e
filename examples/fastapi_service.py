"""A FastAPI endpoint answering with an ensemble, without blocking the event loop (``agenerate``).

    ENSEMBLE_RECIPE=recipes/quickstart.yaml uvicorn examples.fastapi_service:app
    curl -s localhost:8000/ask -H 'content-type: application/json' -d '{"question": "2 + 2 = ?"}'
"""

import os
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import BaseModel

from ensemble_cli import Ensemble

ensemble = Ensemble.from_recipe(os.environ.get("ENSEMBLE_RECIPE", "recipes/quickstart.yaml"))


@asynccontextmanager
async def lifespan(app: FastAPI):  # noqa: ANN201
    ensemble.load()  # load once, before the first request
    yield
    ensemble.close()


app = FastAPI(lifespan=lifespan)


class Question(BaseModel):
    question: str
    max_tokens: int = 64


@app.post("/ask")
async def ask(q: Question) -> dict:
    answer = await ensemble.agenerate(q.question, max_tokens=q.max_tokens)
    return {"answer": answer.text, "members": answer.selected_models,
            "attribution": [{"model": a.model, "text": a.text} for a in answer.attribution]}
