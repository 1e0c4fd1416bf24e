"""What completions and chat share after planning: a live stream, a replayed stream (a body that
had to be made whole first, e.g. for log-probs, sent as SSE when the client asked to stream), and
the log-probs of generated outputs (a second, scoring job)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..jobs import run_job, submit
from ..responses import output_logprobs
from ..schemas import ChatCompletionRequest, CompletionRequest
from ..service import Plan, generation_job, output_scoring_job
from ..state import ServerState
from ..streaming import EventFeed, replay, stream_events

SSE_HEADERS = {"Cache-Control": "no-cache"}


def include_usage(req: CompletionRequest | ChatCompletionRequest) -> bool:
    return bool(req.stream_options and req.stream_options.include_usage)


def respond(req: CompletionRequest | ChatCompletionRequest, body: Any, *, chat: bool) -> Any:
    """``body`` as JSON, or replayed as SSE chunks when the request asked to stream."""
    if not req.stream:
        return body
    events = replay(body.model_dump(mode="json"), chat=chat, include_usage=include_usage(req))
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)


def stream(state: ServerState, plan: Plan, rid: str, *, chat: bool, include_usage: bool) -> StreamingResponse:
    """Submit ``plan``'s generation and stream its pieces as the engine makes them final."""
    feed = EventFeed(asyncio.get_running_loop())
    job = generation_job(plan, feed.finish, on_piece=feed.on_text)
    submit(state.engine, job)
    events = stream_events(plan, job, feed, rid=rid, chat=chat, include_usage=include_usage)
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={**SSE_HEADERS, "X-Accel-Buffering": "no"})


async def generate(state: ServerState, plan: Plan, request: Request) -> tuple[list[Any], list[list[Any]] | None]:
    """``plan``'s results, and their log-probs when the request asked for them."""
    results = await run_job(state.engine, lambda finish: generation_job(plan, finish), request)
    if plan.logprobs is None:
        return results, None
    scores = await run_job(state.engine, lambda finish: output_scoring_job(plan, results, finish), request)
    return results, await run_in_threadpool(output_logprobs, plan, results, scores)
