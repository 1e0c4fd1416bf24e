"""``POST /v1/chat/completions``: a conversation, streamed or not."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from ..responses import chat_response
from ..schemas import ChatCompletionRequest, ChatCompletionResponse
from ..service import new_id, plan_chat
from ..state import State, require_ready
from .replies import generate, include_usage, respond, stream

router = APIRouter()


@router.post("/v1/chat/completions", response_model=ChatCompletionResponse,
             responses={200: {"content": {"text/event-stream": {}}}})
async def chat_completions(req: ChatCompletionRequest, request: Request, state: State) -> Any:
    require_ready(state.engine)
    plan = await run_in_threadpool(plan_chat, req, state.pipelines, state.limits)
    rid = new_id("chatcmpl")
    if req.stream and plan.logprobs is None:
        return stream(state, plan, rid, chat=True, include_usage=include_usage(req))
    results, logprobs = await generate(state, plan, request)
    return respond(req, chat_response(plan, results, rid, logprobs), chat=True)
