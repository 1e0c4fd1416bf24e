"""One worker of the Ray actor pool: a recipe's ``Pipeline`` built once, batches run through it.

A plain class (no Ray import): ``ray_runner`` makes it an actor, and tests drive it directly. It
gets the recipe as data and validates it again with the plugins installed where it runs; the hash
must come out as the driver's, so a node with another ensemble-cli or plugin version refuses to
work instead of writing records that claim a configuration they did not run.

A batch runs through ``batch.run_isolated``, as on the local runner: when the batch raises, its
rows are run one at a time so only the failing rows fail. What goes back to the driver is plain
data: results with their ``Timing`` (the node id added), failures already described (the message,
and the traceback in verbose mode), since an arbitrary exception may not survive pickling.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from ..batch import call_pipeline, run_isolated
from ..core.types import Example
from ..errors import UsageError, describe, format_traceback
from ..verbosity import is_verbose, set_verbose


class BatchWorker:
    """Holds one ``Ensemble`` (its own pipeline and model pool) for the lifetime of the process."""

    def __init__(
        self, recipe: dict[str, Any], *, recipe_hash: str, verbose: bool = False, threads: int = 1, node_id: str = ""
    ) -> None:
        from ..api.ensemble import Ensemble

        set_verbose(verbose)
        _limit_threads(threads)
        self.node_id = node_id
        self.ensemble = Ensemble.from_recipe(recipe)
        if self.ensemble.recipe_hash != recipe_hash:
            raise UsageError(
                f"recipe {self.ensemble.name!r} resolves to hash {self.ensemble.recipe_hash} on node {node_id or '?'} "
                f"but {recipe_hash} on the driver: install the same ensemble-cli and plugins on every node"
            )

    def ready(self) -> tuple[str, float]:
        """Load the models now; this node's id and the seconds loading took."""
        t0 = time.perf_counter()
        self.ensemble.load()
        return self.node_id, time.perf_counter() - t0

    def run(self, batch: list[Example]) -> list[tuple]:
        """The batch's outcomes: ``("results", examples, results, timing)`` or
        ``("failed", example, message, traceback | None)``."""
        self.ensemble.load()  # a restarted actor loads again on its first batch
        outcomes: list[tuple] = []
        pipeline = self.ensemble.pipeline
        run_isolated(lambda rows: call_pipeline(pipeline, rows), batch, lambda o: outcomes.append(self._portable(o)))
        return outcomes

    def _portable(self, outcome: tuple) -> tuple:
        if outcome[0] == "failure":
            _, example, exc = outcome
            return ("failed", example, describe(exc), format_traceback(exc) if is_verbose() else None)
        kind, examples, results, timing = outcome
        return (kind, examples, results, dataclasses.replace(timing, node_id=self.node_id or None))


def _limit_threads(threads: int) -> None:
    """torch's intra-op pool sized to the worker's CPUs (else every actor spawns one per core)."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(max(1, threads))
