"""Server-sent events in OpenAI's shape: ``data: {chunk}\\n\\n`` … ``data: [DONE]\\n\\n``.

The engine thread reports text as the ensemble makes it final (``on_text``) and the end of the job
(``finish``); both are handed to the event loop through an ``asyncio.Queue`` and turned into
chunks here. The first chat chunk carries the role; each choice ends with a chunk carrying its
``finish_reason``; ``stream_options.include_usage`` adds a last chunk with ``usage`` and no choices
(and ``usage: null`` on the others); the ``ensemble`` account rides on the finishing chunk, and
each text chunk carries ``ensemble_piece: {"index", "model"}``, the member that wrote it (``model``
is ``null`` when the aggregator does not say) — what the web UI colours the answer by as it streams.
A failure mid-stream is sent as an ``{"error": ...}`` event before ``[DONE]``.

When the client goes away, the response's generator is closed; its ``finally`` cancels the job, so
the aggregator stops writing for a reader that is no longer there.

The framing is written here rather than with sse-starlette: its shutdown hook ends open streams
at once on SIGTERM, where this server must let in-flight requests finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from .engine import Job
from .errors import from_exception
from .responses import ensemble_info, result_usage
from .service import Plan


def sse(data: dict[str, Any] | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"data: {payload}\n\n"


class EventFeed:
    """Thread-safe bridge from the engine's callbacks to an async iterator of events."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[tuple[str, Any, Any]] = asyncio.Queue()

    def on_text(self, index: int, text: str, model: str | None = None) -> None:
        self._post(("text", index, (text, model)))

    def finish(self, outputs: list[Any] | None, error: BaseException | None) -> None:
        self._post(("done", outputs, error))

    def _post(self, event: tuple[str, Any, Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening any more
            self.loop.call_soon_threadsafe(self.queue.put_nowait, event)


async def stream_events(
    plan: Plan, job: Job, feed: EventFeed, *, rid: str, chat: bool, include_usage: bool
) -> AsyncIterator[str]:
    created = int(time.time())
    obj = "chat.completion.chunk" if chat else "text_completion"
    count = len(plan.examples)

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
        body: dict[str, Any] = {"id": rid, "object": obj, "created": created, "model": plan.model, "choices": choices}
        if include_usage:
            body["usage"] = None
        body.update(extra)
        return sse(body)

    def choice(index: int, text: str | None, finish: str | None, role: bool = False) -> dict[str, Any]:
        if chat:
            delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else {}
            if text:
                delta["content"] = text
            return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {"index": index, "text": text or "", "logprobs": None, "finish_reason": finish}

    try:
        if chat:
            yield chunk([choice(i, None, None, role=True) for i in range(count)])
        elif plan.echo:
            yield chunk([choice(i, plan.prompts[i // plan.n], None) for i in range(count)])
        while True:
            kind, a, b = await feed.queue.get()
            if kind == "text":
                text, model = b
                yield chunk([choice(a, text, None)], ensemble_piece={"index": a, "model": model})
                continue
            outputs, error = a, b
            if error is not None:
                err = from_exception(error)
                yield sse(err.body())
            else:
                finals = [choice(i, None, r.finish_reason or "length") for i, r in enumerate(outputs)]
                yield chunk(finals, ensemble=ensemble_info(plan, outputs).model_dump())
                if include_usage:
                    usage = result_usage(plan, outputs).model_dump()
                    yield sse({"id": rid, "object": obj, "created": created, "model": plan.model, "choices": [],
                               "usage": usage})
            yield sse("[DONE]")
            return
    finally:
        if not job.done:
            job.cancel()


async def replay(body: dict[str, Any], *, chat: bool, include_usage: bool) -> AsyncIterator[str]:
    """A finished response as a stream (used when the request wants log-probs, which are computed
    after the text): per choice one chunk with all of its text and log-probs, then the usual end."""
    head = {k: body[k] for k in ("id", "created", "model")}
    obj = "chat.completion.chunk" if chat else "text_completion"
    extra: dict[str, Any] = {"usage": None} if include_usage else {}
    for choice in body["choices"]:
        if chat:
            delta = {"role": "assistant", "content": choice["message"]["content"]}
            piece = {"index": choice["index"], "delta": delta, "logprobs": choice.get("logprobs"),
                     "finish_reason": choice["finish_reason"]}
        else:
            piece = choice
        yield sse({**head, "object": obj, "choices": [piece], **extra})
    if include_usage:
        yield sse({**head, "object": obj, "choices": [], "usage": body["usage"]})
    yield sse("[DONE]")
