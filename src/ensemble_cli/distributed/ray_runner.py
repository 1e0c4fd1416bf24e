"""``BatchRunner``'s contract with the batch calls on a pool of Ray actors (``ensemble run --ray``).

The driver does everything a local run does (``api.runs.run_dataset``: read and validate, skip
resumed ids, write with the crash-safe writer, progress, exit codes); this module only replaces
``pipeline.run_batch`` with a call on one of the pool's actors (``pool``, ``dispatch``), each
holding its own pipeline and model pool, loaded once.

- *Order.* Records are written as batches come back (as with ``--concurrency``), not in input
  order: ``--resume`` works by id, and holding finished rows back would lose them on a crash.
- *Faults*: see ``dispatch`` (a lost batch is sent again; every id is written exactly once). A batch
  that raises is split to rows on the worker (``batch.run_isolated``, as locally), so only the
  failing rows get error records. The driver killed: the actors go with it (the driver owns them);
  the output holds every record written so far and ``--resume`` continues.

Row progress (tokens per round) stays on the workers; the driver's progress advances per record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast

from ..batch import BatchPipeline, BatchRunner, RunStats
from ..core.types import Example
from ..io.readers import RowError
from .dispatch import Task, dispatch
from .options import RayOptions
from .pool import RayPool

if TYPE_CHECKING:
    from ..recipe import ResolvedRecipe


class RayBatchRunner(BatchRunner):
    """Runs rows as ``BatchRunner`` does, each batch on an idle actor of ``pool``; records are
    written here, on the driver, as the batches come back. ``on_lost(message)`` hears of each
    batch sent again because its worker was lost."""

    def __init__(
        self, pool: RayPool, writer: Any, *, on_lost: Callable[[str], None] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(cast(BatchPipeline, None), writer, **kwargs)  # no pipeline here: the workers hold them
        self.pool = pool
        self.on_lost = on_lost

    def run(self, items: Iterable[Example | RowError]) -> RunStats:
        dispatch(self.pool, (Task(b) for b in self.batches(items)), self._done, self._failed, self.on_lost)
        return self.stats

    def _done(self, task: Task, outcomes: list[tuple]) -> None:
        self.write_remote(outcomes)

    def _failed(self, task: Task, reason: str) -> None:
        for example in task.batch:
            self._emit_failure_text(example, reason)


def timed_start(
    recipes: list[ResolvedRecipe], options: RayOptions, status: Any, batches: int
) -> tuple[RayPool, float]:
    """``RayPool.start`` and the seconds it took (connecting and loading every worker's models)."""
    t0 = time.perf_counter()
    pool = RayPool.start(recipes, options, status, batches)
    return pool, time.perf_counter() - t0
