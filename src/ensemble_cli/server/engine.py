"""The engine loop: one thread that owns the models and runs every request, batching compatible ones.

HTTP handlers never touch a model. They build a ``Job`` (a request's examples or scoring items, a
compatibility ``key``, and the function that runs a batch of such items) and ``submit`` it; the
engine thread takes the oldest waiting job, adds every other waiting job with the same key (same
pipeline and same sampling settings) up to ``max_batch`` items, and runs them as *one* call, so
concurrent requests share forward passes. A job is never split across batches.

Isolation: if a merged batch raises, each of its jobs is run again alone, so only the request that
really fails gets the error. Text already streamed to a client is not sent twice when its job is
re-run (each job remembers how much of each example it has delivered).

Cancellation is cooperative: a job whose client has gone is marked, the aggregator sees it through
``cancelled(i)`` and stops that example; a job cancelled before it starts is dropped.

The thread first loads the models (``load``), so the HTTP server answers ``/health`` with 503
while that happens. ``stop()`` lets it finish every job already submitted, then ends it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import GenerationError

#: (items, emit(i, text[, model]), cancelled(i)) -> one output per item, in order
BatchFn = Callable[[list[Any], Callable[..., None], Callable[[int], bool]], Sequence[Any]]
State = Literal["loading", "ready", "failed", "stopped"]


class QueueFull(Exception):
    """More jobs are waiting than ``max_queue`` allows."""


@dataclass(eq=False)
class Job:
    """One request's work. ``finish(outputs, error)`` and ``on_text`` are called on the engine thread."""

    key: Hashable
    items: list[Any]
    run: BatchFn
    finish: Callable[[list[Any] | None, BaseException | None], None]
    on_text: Callable[[int, str], None] | None = None
    #: like ``on_text`` plus the member that wrote the piece (``None``: not known); takes its place when set
    on_piece: Callable[[int, str, str | None], None] | None = None
    _cancelled: set[int] = field(default_factory=set)
    _all_cancelled: bool = False
    _produced: list[str] = field(default_factory=list)
    _sent: list[int] = field(default_factory=list)
    done: bool = False

    def __post_init__(self) -> None:
        self._produced = [""] * len(self.items)
        self._sent = [0] * len(self.items)

    def cancel(self, index: int | None = None) -> None:
        """Stop one example (``index``) or the whole job (thread-safe: flags only)."""
        if index is None:
            self._all_cancelled = True
        else:
            self._cancelled.add(index)

    def is_cancelled(self, index: int) -> bool:
        return self._all_cancelled or index in self._cancelled

    @property
    def abandoned(self) -> bool:
        return self._all_cancelled

    def _restart(self) -> None:
        self._produced = [""] * len(self.items)

    def _emit(self, index: int, text: str, model: str | None = None) -> None:
        """Deliver new text, skipping what an earlier (failed, re-run) attempt already delivered."""
        self._produced[index] += text
        fresh = self._produced[index][self._sent[index] :]
        listening = self.on_piece is not None or self.on_text is not None
        if fresh and listening and not self.is_cancelled(index):
            self._sent[index] = len(self._produced[index])
            if self.on_piece is not None:
                self.on_piece(index, fresh, model)
            elif self.on_text is not None:
                self.on_text(index, fresh)


class Engine:
    """Owns the worker thread; thread-safe ``submit``, ``stop`` and counters."""

    def __init__(
        self,
        *,
        load: Callable[[], None],
        max_batch: int = 8,
        max_queue: int = 256,
        gather_seconds: float = 0.01,
        on_failed: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._load = load
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.gather_seconds = gather_seconds
        self.on_failed = on_failed
        self.state: State = "loading"
        self.error: BaseException | None = None
        self.started = time.time()
        self.served = 0  #: jobs finished successfully
        self.failed = 0  #: jobs finished with an error
        self.cancelled = 0  #: jobs whose client went away (stopped early or dropped)
        self.batches = 0  #: engine calls made
        self.in_flight = 0  #: jobs in the batch being run
        self._queue: deque[Job] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._main, name="ensemble-engine", daemon=True)

    # -- control ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Finish every submitted job, then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    @property
    def depth(self) -> int:
        return len(self._queue)

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._stopping:
                raise QueueFull("the server is shutting down")
            if len(self._queue) >= self.max_queue:
                raise QueueFull(f"{len(self._queue)} requests are already waiting (--max-queue {self.max_queue})")
            self._queue.append(job)
            self._cond.notify_all()

    # -- the thread ---------------------------------------------------------------------------
    def _main(self) -> None:
        try:
            self._load()
        except BaseException as exc:  # noqa: BLE001 - reported to the server, which exits
            self.state, self.error = "failed", exc
            self._fail_waiting(exc)
            if self.on_failed is not None:
                self.on_failed(exc)
            return
        self.state = "ready"
        while True:
            batch = self._take()
            if batch is None:
                break
            self._run(batch)
        self.state = "stopped"

    def _fail_waiting(self, exc: BaseException) -> None:
        with self._cond:
            waiting, self._queue = list(self._queue), deque()
        for job in waiting:
            self._finish(job, None, exc)

    def _take(self) -> list[Job] | None:
        """The oldest live job plus compatible waiting ones (a short gather lets a burst join)."""
        with self._cond:
            while True:
                while self._queue and self._queue[0].abandoned:
                    self._drop(self._queue.popleft())
                if self._queue:
                    break
                if self._stopping:
                    return None
                self._cond.wait()
            first = self._queue[0]
            self._gather(first)
            batch, size = [], 0
            for job in list(self._queue):
                if job.abandoned:
                    self._queue.remove(job)
                    self._drop(job)
                    continue
                if job.key != first.key and job is not first:
                    continue
                if batch and size + len(job.items) > self.max_batch:
                    continue
                batch.append(job)
                size += len(job.items)
                self._queue.remove(job)
            if not batch:  # the first job was abandoned during the gather
                return []
            self.in_flight = len(batch)
            return batch

    def _gather(self, first: Job) -> None:
        """Let a burst of compatible requests join: wait while they keep arriving (each within
        ``gather_seconds`` of the last, at most ten such waits) and the batch is not full. Clients
        that all got their answers at once come back a few milliseconds apart."""
        if self.gather_seconds <= 0:
            return
        seen = -1
        for _ in range(10):
            count = self._compatible_items(first)
            if count >= self.max_batch or count == seen:
                return
            seen = count
            self._cond.wait(self.gather_seconds)

    def _drop(self, job: Job) -> None:
        job.done = True
        self.cancelled += 1

    def _compatible_items(self, first: Job) -> int:
        return sum(len(j.items) for j in self._queue if j.key == first.key)

    def _run(self, batch: list[Job]) -> None:
        if not batch:
            return
        try:
            outputs = self._call(batch)
        except Exception as exc:
            if len(batch) == 1:
                self._finish(batch[0], None, exc)
            else:  # isolate: only the jobs that fail on their own get an error
                for job in batch:
                    job._restart()
                    try:
                        out = self._call([job])
                    except Exception as single:
                        self._finish(job, None, single)
                    else:
                        self._finish(job, out[0], None)
        else:
            for job, out in zip(batch, outputs, strict=True):
                self._finish(job, out, None)
        finally:
            self.in_flight = 0

    def _call(self, batch: list[Job]) -> list[list[Any]]:
        owners: list[tuple[Job, int]] = [(job, i) for job in batch for i in range(len(job.items))]
        items = [job.items[i] for job in batch for i in range(len(job.items))]

        def on_text(index: int, text: str, model: str | None = None) -> None:
            job, local = owners[index]
            job._emit(local, text, model)

        def cancelled(index: int) -> bool:
            job, local = owners[index]
            return job.is_cancelled(local)

        self.batches += 1
        outputs = list(batch[0].run(items, on_text, cancelled))
        if len(outputs) != len(items):
            raise GenerationError(f"the engine got {len(outputs)} results for {len(items)} items")
        split, start = [], 0
        for job in batch:
            split.append(outputs[start : start + len(job.items)])
            start += len(job.items)
        return split

    def _finish(self, job: Job, outputs: list[Any] | None, error: BaseException | None) -> None:
        job.done = True
        if job._all_cancelled or job._cancelled:
            self.cancelled += 1
        if error is None:
            self.served += 1
        else:
            self.failed += 1
        with contextlib.suppress(Exception):  # a broken callback must not stop the engine
            job.finish(outputs, error)
