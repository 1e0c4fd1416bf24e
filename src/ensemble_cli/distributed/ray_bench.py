"""``ensemble bench --ray``: ``evaluation.bench.Bench``'s contract with the batches on Ray workers.

Every worker holds every system that still has to run (the ensemble and each member alone, over one
model pool, as a local bench does); the batches go out interleaved as locally (batch 1 of every
system, then batch 2, …), several at a time, one per idle worker (``dispatch``: a batch a dead
worker lost is sent again). Each system's records are written *in batch order* (a finished batch
waits for the ones before it), because a bench resumes by whole batches from the front of each
file (``evaluation.resume``). A system's time is the sum of its batch calls as the workers timed
them, the same measure as locally (queueing on the driver is not counted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

from ..batch import BatchPipeline, BatchRunner
from ..io.writers import ResultWriter
from .dispatch import Task, dispatch
from .options import RayOptions
from .ray_runner import timed_start

if TYPE_CHECKING:
    from ..evaluation.bench import System
    from ..evaluation.datasets import Row
    from .pool import RayPool


class RayBench:
    """``Bench`` with ``load(status)`` starting the worker pool and ``run`` dispatching to it."""

    def __init__(
        self, systems: Sequence[System], options: RayOptions, on_lost: Callable[[str], None] | None = None
    ) -> None:
        self.systems = list(systems)
        self.options = options
        self.on_lost = on_lost
        self.active = [i for i, s in enumerate(self.systems) if not s.reused_all]  # worker recipe i → system
        self.pool: RayPool | None = None

    def load(self, status: Any, batches: int) -> float:
        """Start the pool (every worker loads every model once); the seconds it took."""
        recipes = [self.systems[i].resolved for i in self.active]
        self.pool, seconds = timed_start(recipes, self.options, status, batches)
        return seconds

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def run(
        self, rows: Sequence[Row], batch_size: int = 8, on_batch: Callable[[System, int], None] | None = None
    ) -> None:
        """Run ``rows`` batch by batch through every system on the pool; ``on_batch(system, rows)``
        after each batch is written. A system's records so far (reused or resumed) count as done."""
        assert self.pool is not None, "load() starts the pool first"
        writers = [ResultWriter(s.path, resume=s.reused is None and s.resumed > 0) for s in self.systems]
        try:
            runners = [  # writers of records only: the workers hold the pipelines
                BatchRunner(cast(BatchPipeline, None), writer, recipe_hash=s.resolved.hash,
                            recipe=s.resolved.as_dict(), batch_size=batch_size, on_record=s.records.append)
                for s, writer in zip(self.systems, writers, strict=True)
            ]
            for system, writer in zip(self.systems, writers, strict=True):
                if system.reused is not None:
                    for record in system.records:
                        writer.write(record)
                if system.records and on_batch is not None:
                    on_batch(system, len(system.records))
            order = _InOrder(self.systems, runners, rows, batch_size, on_batch)
            dispatch(self.pool, order.tasks(self.active), order.done, order.failed, self.on_lost)
        finally:
            for writer in writers:
                writer.close()


class _InOrder:
    """Hands out each system's unfinished batches and writes them back in batch order."""

    def __init__(self, systems: list[System], runners: list[BatchRunner], rows: Sequence[Row], batch_size: int,
                 on_batch: Callable[[System, int], None] | None) -> None:
        self.systems, self.runners, self.rows, self.size, self.on_batch = systems, runners, rows, batch_size, on_batch
        self.next = [len(s.records) for s in systems]  # where each system's next batch to write starts
        self.finished: list[dict[int, list[tuple]]] = [{} for _ in systems]

    def tasks(self, active: list[int]) -> Iterator[Task]:
        for start in range(0, len(self.rows), self.size):
            for worker_index, i in enumerate(active):
                if start < self.next[i]:
                    continue
                batch = [r for r in self.rows[start : start + self.size] if not _is_row_error(r)]
                if batch:
                    yield Task(batch, system=worker_index, key=(i, start))
                else:  # only unusable rows: nothing to run, written in its turn
                    self.done(Task([], key=(i, start)), [])

    def done(self, task: Task, outcomes: list[tuple]) -> None:
        i, start = task.key
        self.finished[i][start] = outcomes
        while self.next[i] in self.finished[i]:
            at = self.next[i]
            runner, system = self.runners[i], self.systems[i]
            chunk = self.rows[at : at + self.size]
            list(runner.batches(chunk))  # the chunk's unusable rows, written as a local bench writes them
            outs = self.finished[i].pop(at)
            runner.write_remote(outs)
            system.seconds += sum(o[3].seconds for o in outs if o[0] == "results")
            self.next[i] = at + len(chunk)
            if self.on_batch is not None:
                self.on_batch(system, len(chunk))

    def failed(self, task: Task, reason: str) -> None:
        self.done(task, [("failed", example, reason, None) for example in task.batch])


def _is_row_error(row: Any) -> bool:
    from ..io.readers import RowError

    return isinstance(row, RowError)
