"""A small OpenAI-compatible test server (FastAPI + uvicorn on 127.0.0.1, a free port, in a thread).

It serves a *real* (tiny, random-weight) transformers model through the ``hf`` sessions, so what
the ``openai`` generator gets back is real generation with real log-probs, and it can inject faults:
queued error statuses (``fail_next``), a response delay (timeouts), a required API key. It records
every request body and the largest number of requests it had in flight at once.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


@dataclass
class ServerState:
    fail_next: list[int] = field(default_factory=list)  #: statuses to answer with, one per request
    delay: float = 0.0  #: seconds to wait before answering (asyncio.sleep: other requests proceed)
    api_key: str | None = None  #: required bearer token
    model_name: str = "tiny"
    requests: list[dict[str, Any]] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0


def make_app(model: Any, tok: Any, state: ServerState) -> Any:
    from ensemble_cli.generators.hf import _eos_ids
    from ensemble_cli.generators.hf_session import HFSessionBatch

    app = FastAPI()
    lock = threading.Lock()
    eos = _eos_ids(model, tok)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": "test", "param": None, "code": status}},
                            status_code=status)

    def check(request: Request) -> JSONResponse | None:
        auth = request.headers.get("authorization", "")
        state.auth_headers.append(auth)
        if state.api_key is not None and auth != f"Bearer {state.api_key}":
            return error(401, "invalid api key")
        if state.fail_next:
            status = state.fail_next.pop(0)
            return error(status, f"injected {status}")
        return None

    @app.get("/v1/models")
    async def models(request: Request) -> Any:
        bad = check(request)
        return bad or {"object": "list", "data": [{"id": state.model_name, "object": "model"}]}

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        body = await request.json()
        state.requests.append(body)
        bad = check(request)
        if bad is not None:
            return bad
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            if state.delay:
                await asyncio.sleep(state.delay)
            with lock:
                return _complete(body)
        finally:
            state.in_flight -= 1

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        state.requests.append(body)
        bad = check(request)
        if bad is not None:
            return bad
        messages = body["messages"]
        continuing = bool(body.get("continue_final_message")) and messages[-1]["role"] == "assistant"
        prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=not continuing,
                                         continue_final_message=continuing)
        k = body.get("top_logprobs", 0) if body.get("logprobs") else None
        with lock:
            out = _complete({**body, "prompt": prompt, "logprobs": k}, special=False)
        choice = out["choices"][0]
        lp = choice["logprobs"]
        content = None
        if lp is not None:
            content = [{"token": t, "logprob": v, "bytes": None,
                        "top_logprobs": [{"token": a, "logprob": b} for a, b in (top or {}).items()]}
                       for t, v, top in zip(lp["tokens"], lp["token_logprobs"], lp["top_logprobs"] or
                                            [None] * len(lp["tokens"]), strict=True)]
        return {"id": "chat-test", "object": "chat.completion", "created": out["created"], "model": out["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": choice["text"]},
                             "finish_reason": choice["finish_reason"], "logprobs": {"content": content}}],
                "usage": out["usage"]}

    @torch.inference_mode()
    def _complete(body: dict[str, Any], special: bool = True) -> dict[str, Any]:
        ids = tok.encode(body["prompt"], add_special_tokens=special)
        stop = body.get("stop") or []
        stop = [stop] if isinstance(stop, str) else stop
        session = HFSessionBatch(model, tok, [ids], eos_ids=eos, pad_id=pad)
        seg = session.generate(int(body.get("max_tokens", 16)), stop=stop, ignore_eos=bool(body.get("ignore_eos")))[0]
        choice: dict[str, Any] = {"index": 0, "text": seg.text, "finish_reason": seg.finish_reason,
                                  "stop_reason": None, "logprobs": None}
        if seg.stopped_by == "stop_string":
            choice["stop_reason"] = next(s for s in stop if s)
        k = body.get("logprobs")
        if k is not None and seg.token_ids:
            full = torch.tensor([ids + seg.token_ids])
            logits = model(input_ids=full).logits[0, len(ids) - 1 : len(ids) - 1 + len(seg.token_ids)].float()
            lp = torch.log_softmax(logits, dim=-1)
            tops = []
            for row in lp:
                values, index = row.topk(max(1, int(k)))
                tops.append({tok.decode([int(i)]): float(v) for v, i in zip(values, index, strict=True)} if k else {})
            choice["logprobs"] = {
                "tokens": [tok.decode([t]) for t in seg.token_ids],
                "token_logprobs": seg.logprobs,
                "top_logprobs": tops if k else None,
                "text_offset": [],
            }
        usage = {"prompt_tokens": len(ids), "completion_tokens": len(seg.token_ids),
                 "total_tokens": len(ids) + len(seg.token_ids)}
        return {"id": "cmpl-test", "object": "text_completion", "created": int(time.time()),
                "model": state.model_name, "choices": [choice], "usage": usage}

    return app


@contextmanager
def serve(model: Any, tok: Any, state: ServerState | None = None) -> Iterator[tuple[str, ServerState]]:
    """Run the test server in a thread; yields ``(base_url, state)`` and stops it afterwards."""
    import uvicorn

    state = state or ServerState()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(make_app(model, tok, state), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1", state
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
