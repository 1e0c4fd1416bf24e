"""``POST /v1/completions``: generation, streamed or not, and lm-eval's loglikelihood requests."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from ..jobs import run_job
from ..responses import completion_response, loglikelihood_response
from ..schemas import CompletionRequest, CompletionResponse
from ..service import new_id, plan_completion, scoring_job
from ..state import State, require_ready
from .replies import generate, include_usage, respond, stream

router = APIRouter()


@router.post("/v1/completions", response_model=CompletionResponse,
             responses={200: {"content": {"text/event-stream": {}}}})
async def completions(req: CompletionRequest, request: Request, state: State) -> Any:
    require_ready(state.engine)
    plan = await run_in_threadpool(plan_completion, req, state.pipelines, state.limits)
    rid = new_id("cmpl")
    if plan.loglikelihood is not None:
        scores = await run_job(state.engine, lambda finish: scoring_job(plan, finish), request)
        return respond(req, loglikelihood_response(plan, scores, rid), chat=False)
    if req.stream and plan.logprobs is None:
        return stream(state, plan, rid, chat=False, include_usage=include_usage(req))
    results, logprobs = await generate(state, plan, request)
    return respond(req, completion_response(plan, results, rid, logprobs), chat=False)
