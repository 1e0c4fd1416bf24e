"""Feed examples through a pipeline in batches and write one record per example as it finishes.

This is the engine of ``ensemble run`` without the terminal: no progress bars, no exit codes, so
``ensemble eval`` or a script can reuse it. Two rules shape it:

- *A bad row never stops the run.* Input errors become error records on the spot. When a batch
  raises, its examples are retried one at a time, so only the rows that really fail become error
  records (with the exception's message, the row's label so graders count it wrong, and in verbose
  mode the traceback) and the others still get results.
- *Nothing finished is held back.* Each record is written (and flushed) as soon as its batch
  returns, so an interrupted run keeps everything it reported and ``--resume`` picks up the rest.

``KeyboardInterrupt`` (and other ``BaseException``) is never swallowed.

``concurrency`` > 1 keeps that many batches in flight at once, each on its own (daemon) worker
thread; the main thread alone writes records, in the order batches finish (resume works by id, so
order does not matter). It pays off when members are remote (``openai``): the threads wait on
HTTP while the servers batch the requests. ``--batch-size 1 --concurrency N`` keeps exactly N
examples in flight, each moving on as soon as it is done. Worker threads are daemons, so Ctrl-C
ends the run at once; answers still in flight are dropped and ``--resume`` redoes those rows.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from .core.events import ProgressHook, RowProgress
from .core.types import Example, Result
from .errors import describe, format_traceback
from .io.readers import RowError
from .io.records import Timing, example_error_record, make_error_record, make_record
from .io.writers import OutputState, ResultWriter
from .verbosity import is_verbose


class BatchPipeline(Protocol):
    """What the runner needs from a pipeline: one result per example, in order (``on_progress`` is
    only passed when the runner was given one)."""

    def run_batch(self, examples: list[Example], *, on_progress: ProgressHook | None = ...) -> list[Result]: ...


@dataclass
class RunStats:
    """Counters for the summary; tokens count successful rows only."""

    ok: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def done(self) -> int:
        return self.ok + self.errors


@dataclass
class Pending:
    """The rows a (resumed) run still has to do, and what resuming skipped."""

    todo: list[Example | RowError]
    skipped: int = 0  #: rows skipped because the output already has them
    known_errors: int = 0  #: of those, input errors already reported (they still count as failed)


def pending(items: Iterable[Example | RowError], state: OutputState | None) -> Pending:
    """The rows still to do when resuming against ``state`` (``None``: not resuming, do all).

    Examples with a successful record are skipped. Input errors that were already reported are
    skipped too: they come from the input file and would only repeat (if the file was fixed, the
    row is now an example and gets done). Examples whose earlier attempt failed are retried.
    """
    items = list(items)
    if state is None:
        return Pending(items)
    result = Pending([])
    for item in items:
        if isinstance(item, Example) and item.id in state.done:
            result.skipped += 1
        elif isinstance(item, RowError) and item.id in state.errored:
            result.skipped += 1
            result.known_errors += 1
        else:
            result.todo.append(item)
    return result


class BatchRunner:
    """Runs rows through ``pipeline`` ``batch_size`` at a time and writes their records.

    ``on_record(record)`` is called after each record is written (progress, warnings);
    ``on_progress(example_id, progress)`` after every round of an example still being worked on
    (possibly from a worker thread when ``concurrency`` > 1).
    """

    def __init__(
        self,
        pipeline: BatchPipeline,
        writer: ResultWriter,
        *,
        recipe_hash: str,
        recipe: dict[str, Any],
        batch_size: int = 8,
        on_record: Callable[[dict[str, Any]], None] | None = None,
        concurrency: int = 1,
        on_progress: Callable[[str, RowProgress], None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.pipeline = pipeline
        self.writer = writer
        self.recipe_hash = recipe_hash
        self.recipe = recipe
        self.batch_size = batch_size
        self.on_record = on_record
        self.on_progress = on_progress
        self.stats = RunStats()

    def run(self, items: Iterable[Example | RowError]) -> RunStats:
        """Process every row; input errors are written at once, examples batch by batch."""
        if self.concurrency > 1:
            return self._run_concurrent(items)
        for batch in self.batches(items):
            self._run_batch(batch, self._deliver)
        return self.stats

    def batches(self, items: Iterable[Example | RowError]) -> Iterable[list[Example]]:
        """Full batches of examples; input errors are written on the way (lazily: as it is iterated)."""
        batch: list[Example] = []
        for item in items:
            if isinstance(item, RowError):
                self._emit(
                    make_error_record(
                        item.id, item.reason, recipe_hash=self.recipe_hash, prompt=item.prompt, line=item.line
                    )
                )
                continue
            batch.append(item)
            if len(batch) >= self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _run_concurrent(self, items: Iterable[Example | RowError]) -> RunStats:
        """Up to ``concurrency`` batches on worker threads; their outcomes are written here."""
        outcomes: queue.Queue[tuple[str, Any]] = queue.Queue()
        in_flight = 0

        def work(batch: list[Example]) -> None:
            try:
                self._run_batch(batch, lambda outcome: outcomes.put(("outcome", outcome)))
            except BaseException as exc:  # handed to the main thread, never lost
                outcomes.put(("crash", exc))
            finally:
                outcomes.put(("done", None))

        def take_one() -> None:
            nonlocal in_flight
            kind, payload = outcomes.get()
            if kind == "done":
                in_flight -= 1
            elif kind == "crash":
                raise payload
            else:
                self._deliver(payload)

        for batch in self.batches(items):
            while in_flight >= self.concurrency:
                take_one()
            threading.Thread(target=work, args=(batch,), name="ensemble-batch", daemon=True).start()
            in_flight += 1
        while in_flight:
            take_one()
        return self.stats

    def _run_batch(self, batch: list[Example], deliver: Callable[[tuple], None]) -> None:
        """Run one batch; hand each outcome to ``deliver`` as soon as it exists (isolating failures)."""
        run_isolated(self._call, batch, deliver)

    def _deliver(self, outcome: tuple) -> None:
        if outcome[0] == "failure":
            self._emit_failure(outcome[1], outcome[2])
        else:
            self._emit_results(outcome[1], outcome[2], outcome[3])

    def _call(self, batch: list[Example]) -> tuple[list[Result], Timing]:
        return call_pipeline(self.pipeline, batch, self.on_progress)

    def _emit_results(self, batch: Sequence[Example], results: Sequence[Result], timing: Timing) -> None:
        for example, result in zip(batch, results, strict=True):
            record = make_record(
                example, result, timing=timing, recipe_hash=self.recipe_hash, recipe=self.recipe
            )
            if result.error is None:
                self.stats.prompt_tokens += result.usage.prompt_tokens
                self.stats.completion_tokens += result.usage.completion_tokens
            self._emit(record)

    def _emit_failure(self, example: Example, exc: Exception) -> None:
        """An error record keeping the row's label (graders count it wrong); in verbose mode with the
        traceback of what failed (for a component, where inside it)."""
        trace = format_traceback(exc) if is_verbose() else None
        self._emit_failure_text(example, describe(exc), trace)

    def _emit_failure_text(self, example: Example, reason: str, trace: str | None = None) -> None:
        """The same, for a failure already described (one that happened in another process)."""
        self._emit(example_error_record(example, reason, recipe_hash=self.recipe_hash, traceback=trace))

    def write_remote(self, outcomes: Iterable[tuple]) -> None:
        """Write the outcomes of a batch run in another process (``distributed.worker``):
        ``("results", examples, results, timing)`` as here, ``("failed", example, message, traceback)``
        for a row whose failure was described there."""
        for outcome in outcomes:
            if outcome[0] == "failed":
                self._emit_failure_text(outcome[1], outcome[2], outcome[3])
            else:
                self._emit_results(outcome[1], outcome[2], outcome[3])

    def _emit(self, record: dict[str, Any]) -> None:
        self.writer.write(record)
        if "error" in record:
            self.stats.errors += 1
        else:
            self.stats.ok += 1
        if self.on_record is not None:
            self.on_record(record)


Outcome = tuple  #: ("results", examples, results, timing) or ("failure", example, exception)


def run_isolated(
    call: Callable[[list[Example]], tuple[list[Result], Timing]],
    batch: list[Example],
    deliver: Callable[[Outcome], None],
) -> None:
    """Run ``batch`` through ``call``; when it raises, run its examples one at a time so only the rows
    that really fail become failures. Each outcome goes to ``deliver`` as soon as it exists.
    (Shared by the local runner and the Ray workers, so both split a failing batch alike.)"""
    try:
        results, timing = call(batch)
    except Exception as exc:
        if len(batch) == 1:
            deliver(("failure", batch[0], exc))
            return
        for example in batch:  # isolate the failing rows
            try:
                results, timing = call([example])
            except Exception as single_exc:
                deliver(("failure", example, single_exc))
            else:
                deliver(("results", [example], results, timing))
        return
    deliver(("results", batch, results, timing))


def call_pipeline(
    pipeline: BatchPipeline, batch: list[Example], on_progress: Callable[[str, RowProgress], None] | None = None
) -> tuple[list[Result], Timing]:
    """One ``run_batch`` call, timed; a pipeline returning the wrong number of results is an error."""
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    if on_progress is None:
        results = pipeline.run_batch(batch)
    else:
        report = on_progress
        results = pipeline.run_batch(batch, on_progress=lambda i, p: report(batch[i].id, p))
    timing = Timing(started_at=started, seconds=time.perf_counter() - t0, batch_size=len(batch))
    if len(results) != len(batch):
        raise RuntimeError(f"pipeline returned {len(results)} results for {len(batch)} examples")
    return results, timing
