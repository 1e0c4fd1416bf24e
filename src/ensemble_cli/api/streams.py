"""Streaming for the Python API: the pieces the ensemble makes final, as they come.

The aggregators hand each final piece to ``EnsembleContext.emit`` with the member that wrote it
(the hook the server's SSE stream is fed from); here a worker thread runs the generation and a
queue carries the pieces to the caller's loop (``Stream``, synchronous) or to the event loop
(``astream``, with ``call_soon_threadsafe`` as the server's ``EventFeed`` does). A caller that
stops reading early stops the generation: the aggregators see ``cancelled`` and end their rows
(``stop_cause "cancelled"``), so no model keeps writing for nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from ..core.types import Example
from .results import Completion, StreamPiece

#: (on_piece(index, text, model), stop()) -> the completions
Work = Callable[[Callable[[int, str, str | None], None], Callable[[], bool]], list[Completion]]


class Stream:
    """An iterator of ``StreamPiece``; afterwards ``completions`` (and ``completion`` for one item)
    hold the full results. Iterate it once."""

    def __init__(self, work: Work, examples: list[Example], single: bool) -> None:
        self._work = work
        self._examples = examples
        self._single = single
        self._stop = threading.Event()
        self._started = False
        self.completions: list[Completion] | None = None

    @property
    def completion(self) -> Completion:
        """The one completion of a single-item stream (after iterating it)."""
        if self.completions is None:
            raise RuntimeError("the stream has not finished yet: iterate it first")
        return self.completions[0]

    def __iter__(self) -> Iterator[StreamPiece]:
        return self._pieces()

    def start(self, post: Callable[[tuple[str, Any]], None]) -> None:
        """Run the work on a daemon thread, posting ``("piece", p)`` then ``("done", completions)``
        or ``("error", exc)`` through ``post`` (what ``astream`` uses to reach the event loop)."""
        if self._started:
            raise RuntimeError("a stream can be iterated only once")
        self._started = True

        def on_piece(index: int, text: str, model: str | None) -> None:
            post(("piece", StreamPiece(index, self._examples[index].id, text, model)))

        def main() -> None:
            try:
                done = self._work(on_piece, self._stop.is_set)
            except BaseException as exc:  # handed to the reader, never lost
                post(("error", exc))
            else:
                self.completions = done
                post(("done", done))

        threading.Thread(target=main, name="ensemble-stream", daemon=True).start()

    def cancel(self) -> None:
        """Stop generating (rows end with ``stop_cause "cancelled"``)."""
        self._stop.set()

    def _pieces(self) -> Iterator[StreamPiece]:
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.start(events.put)
        try:
            while True:
                kind, payload = events.get()
                if kind == "piece":
                    yield payload
                elif kind == "error":
                    raise payload
                else:
                    return
        finally:
            self.cancel()  # a reader that left early: let the rows end


async def astream(stream: Stream) -> AsyncIterator[StreamPiece]:
    """``stream``'s pieces on the running event loop (the work stays on its thread)."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def post(item: tuple[str, Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening any more
            loop.call_soon_threadsafe(events.put_nowait, item)

    stream.start(post)
    try:
        while True:
            kind, payload = await events.get()
            if kind == "piece":
                yield payload
            elif kind == "error":
                raise payload
            else:
                return
    finally:
        stream.cancel()
