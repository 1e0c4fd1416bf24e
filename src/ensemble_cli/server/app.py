"""The FastAPI app: routes, API-key check, readiness, and the async glue to the engine thread.

Handlers stay non-blocking: request checks that tokenize run in a worker thread, generation runs
on the engine thread, and a handler only awaits a future (or, for ``stream: true``, an event
feed). A non-streaming handler listens for its client's disconnect while it waits and cancels its
job when the client has gone; a streaming response cancels its job when its generator is closed.

Open routes: ``/health``, ``/openapi.json``, ``/docs``. Every other route needs
``Authorization: Bearer KEY`` when the server has a key; with the web UI mounted (``ui=True``), the
key cookie its sign-in form sets (``ensemble_cli.ui.auth``) is accepted in place of the header, and
``/ui/login`` is open (it checks the key itself).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..core.types import Example
from .engine import Engine, Job, QueueFull
from .errors import APIError, bad_request, error_body, from_exception, install
from .pipelines import Pipelines
from .responses import chat_response, completion_response, loglikelihood_response, output_logprobs
from .schemas import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    CompletionRequest,
    CompletionResponse,
    DetokenizeRequest,
    ModelCard,
    ModelList,
    TokenizeRequest,
)
from .service import (
    Limits,
    check_ids,
    context_limit,
    first_generator,
    generation_job,
    new_id,
    output_scoring_job,
    plan_chat,
    plan_completion,
    scoring_job,
    tokenizer_of,
)
from .streaming import EventFeed, replay, stream_events

OPEN_PATHS = ("/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")


@dataclass
class ServerState:
    pipelines: Pipelines
    engine: Engine
    limits: Limits = field(default_factory=Limits)
    api_key: str | None = None
    ui: bool = False  #: the web UI is mounted: its key cookie counts as the key
    started: float = field(default_factory=time.time)


def create_app(state: ServerState) -> FastAPI:
    """An app serving ``state``; starting and stopping the engine is the caller's job."""
    app = FastAPI(
        title="ensemble-cli",
        summary="An OpenAI-compatible server running an ensemble recipe",
        version=_version(),
    )
    install(app)
    pipelines, engine = state.pipelines, state.engine

    @app.middleware("http")
    async def _auth(request: Request, call_next: Callable[[Request], Any]) -> Any:
        path = request.url.path
        if state.api_key and path not in OPEN_PATHS and not (state.ui and path == "/ui/login"):
            header = request.headers.get("authorization", "")
            scheme, _, given = header.partition(" ")
            ok = scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode(), state.api_key.encode())
            if not ok and state.ui and not header:
                from ..ui.auth import KEY_COOKIE, is_page, key_matches, login_page

                ok = key_matches(request.cookies.get(KEY_COOKIE), state.api_key)
                if not ok and is_page(path):
                    return HTMLResponse(login_page(), status_code=401)
            if not ok:
                message = "missing API key" if not header else "invalid API key"
                return JSONResponse(error_body(401, message, code="invalid_api_key"), status_code=401)
        return await call_next(request)

    def require_ready() -> None:
        if engine.state == "loading":
            raise APIError(503, "the models are still loading; retry shortly (see GET /health)", code="loading")
        if engine.state != "ready":
            raise APIError(503, f"the engine is {engine.state}", code="unavailable")

    def submit(job: Job) -> None:
        try:
            engine.submit(job)
        except QueueFull as exc:
            raise APIError(503, f"server busy: {exc}", code="queue_full") from None

    async def run_job(make: Callable[[Callable[..., None]], Job], request: Request) -> list[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[Any, Any]] = loop.create_future()

        def resolve(outputs: Any, error: Any) -> None:
            if not fut.done():
                fut.set_result((outputs, error))

        job = make(lambda outputs, error: loop.call_soon_threadsafe(resolve, outputs, error))
        submit(job)
        watcher = asyncio.ensure_future(_disconnected(request))
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

    @app.get("/health", summary="200 when the models are loaded, 503 while loading")
    async def health() -> JSONResponse:
        if engine.ready:
            return JSONResponse({"status": "ok"})
        status = "loading" if engine.state == "loading" else engine.state
        body = error_body(503, f"not ready: {status}", code=status)
        body["status"] = status
        return JSONResponse(body, status_code=503)

    @app.get("/status", summary="Recipe, members, queue depth, requests served, uptime")
    async def status() -> dict[str, Any]:
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

    @app.get("/v1/models", response_model=ModelList)
    async def models() -> ModelList:
        created = int(state.started)
        recipe = pipelines.recipe.name
        cards = [ModelCard(id=recipe, created=created, root=recipe)]
        cards += [ModelCard(id=m, created=created, root=m, parent=recipe) for m in pipelines.model_names[1:]]
        return ModelList(data=cards)

    @app.post("/v1/completions", response_model=CompletionResponse,
              responses={200: {"content": {"text/event-stream": {}}}})
    async def completions(req: CompletionRequest, request: Request) -> Any:
        require_ready()
        plan = await run_in_threadpool(plan_completion, req, pipelines, state.limits)
        rid = new_id("cmpl")
        if plan.loglikelihood is not None:
            scores = await run_job(lambda finish: scoring_job(plan, finish), request)
            return _respond(req, loglikelihood_response(plan, scores, rid), chat=False)
        if req.stream and plan.logprobs is None:
            return _stream(plan, rid, chat=False, include_usage=_include_usage(req))
        results = await run_job(lambda finish: generation_job(plan, finish), request)
        logprobs = await _output_logprobs(plan, results, request)
        return _respond(req, completion_response(plan, results, rid, logprobs), chat=False)

    @app.post("/v1/chat/completions", response_model=ChatCompletionResponse,
              responses={200: {"content": {"text/event-stream": {}}}})
    async def chat_completions(req: ChatCompletionRequest, request: Request) -> Any:
        require_ready()
        plan = await run_in_threadpool(plan_chat, req, pipelines, state.limits)
        rid = new_id("chatcmpl")
        if req.stream and plan.logprobs is None:
            return _stream(plan, rid, chat=True, include_usage=_include_usage(req))
        results = await run_job(lambda finish: generation_job(plan, finish), request)
        logprobs = await _output_logprobs(plan, results, request)
        return _respond(req, chat_response(plan, results, rid, logprobs), chat=True)

    async def _output_logprobs(plan: Any, results: list[Any], request: Request) -> list[list[Any]] | None:
        if plan.logprobs is None:
            return None
        scores = await run_job(lambda finish: output_scoring_job(plan, results, finish), request)
        return await run_in_threadpool(output_logprobs, plan, results, scores)

    def _respond(req: CompletionRequest | ChatCompletionRequest, body: Any, *, chat: bool) -> Any:
        if not req.stream:
            return body
        events = replay(body.model_dump(mode="json"), chat=chat, include_usage=_include_usage(req))
        return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    def _stream(plan: Any, rid: str, *, chat: bool, include_usage: bool) -> StreamingResponse:
        feed = EventFeed(asyncio.get_running_loop())
        job = generation_job(plan, feed.finish, on_piece=feed.on_text)
        submit(job)
        events = stream_events(plan, job, feed, rid=rid, chat=chat, include_usage=include_usage)
        return StreamingResponse(events, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    # -- tokenizer endpoints (vLLM's shapes; lm-eval's remote tokenizer probes them) --------------

    def _generator(model: str | None) -> Any:
        require_ready()
        _, pipeline = pipelines.get(model, None)
        return first_generator(pipeline)

    @app.get("/tokenizer_info", summary="The first member's tokenizer (special tokens, chat template)")
    async def tokenizer_info(model: str | None = None) -> dict[str, Any]:
        gen = _generator(model)
        tok = tokenizer_of(gen)
        return {
            "tokenizer_class": type(tok).__name__,
            "eos_token": tok.eos_token,
            "bos_token": tok.bos_token,
            "pad_token": tok.pad_token,
            "unk_token": getattr(tok, "unk_token", None),
            "chat_template": getattr(tok, "chat_template", None),
            "model_max_length": context_limit(gen),
            "vocab_size": len(tok),
        }

    @app.post("/tokenize", summary="Text (or a chat, templated as generation does) to the first member's ids")
    async def tokenize(req: TokenizeRequest) -> dict[str, Any]:
        gen = _generator(req.model)
        tok = tokenizer_of(gen)

        def work() -> list[int]:
            if req.messages is not None:
                if not req.messages:
                    raise bad_request("messages must not be empty", "messages")
                messages = [{"role": m.role, "content": m.text()} for m in req.messages]
                return list(gen.encode_prompt(Example(id="tokenize", messages=messages)))
            if req.prompt is None:
                raise bad_request("give 'prompt' or 'messages'", "prompt")
            return list(tok.encode(req.prompt, add_special_tokens=req.add_special_tokens))

        tokens = await run_in_threadpool(work)
        return {"count": len(tokens), "max_model_len": context_limit(gen), "tokens": tokens, "token_strs": None}

    @app.post("/detokenize", summary="The first member's ids to text")
    async def detokenize(req: DetokenizeRequest) -> dict[str, Any]:
        gen = _generator(req.model)
        check_ids(gen, req.tokens, "tokens")
        text = await run_in_threadpool(tokenizer_of(gen).decode, req.tokens)
        return {"prompt": text}

    return app


async def _disconnected(request: Request) -> None:
    """Return when the client closes the connection (the body is read already, so the next ASGI
    message is ``http.disconnect``), the way Starlette's streaming response listens for it."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _include_usage(req: CompletionRequest | ChatCompletionRequest) -> bool:
    return bool(req.stream_options and req.stream_options.include_usage)


def _version() -> str:
    from .. import __version__

    return __version__


__all__ = ["ServerState", "create_app", "from_exception"]
