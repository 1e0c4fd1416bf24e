"""One worker of the Ray actor pool: a recipe's ``Pipeline`` built once, batches run through it.

A plain class (no Ray import): ``pool`` makes it an actor, and tests drive it directly. It holds
one recipe for ``run``, or several for ``bench`` (the ensemble and each member alone, over one
``ModelPool`` so each model loads once, as in a local bench). It gets the recipes as data and
validates them again with the plugins installed where it runs; each hash must come out as the
driver's, so a node with another ensemble-cli or plugin version refuses to work instead of writing
records that claim a configuration they did not run.

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
    """Holds one ``Ensemble`` per recipe (own pipelines, one shared model pool) for the process's life."""

    def __init__(
        self, recipes: list[dict[str, Any]], *, hashes: list[str], verbose: bool = False, threads: int = 1,
        node_id: str = "",
    ) -> None:
        from ..api.ensemble import Ensemble
        from ..core.pool import ModelPool

        set_verbose(verbose)
        _limit_threads(threads)
        self.node_id = node_id
        pool = ModelPool()
        self.ensembles = [Ensemble.from_recipe(recipe, pool=pool) for recipe in recipes]
        for ensemble, expected in zip(self.ensembles, hashes, strict=True):
            if ensemble.recipe_hash != expected:
                raise UsageError(
                    f"recipe {ensemble.name!r} resolves to hash {ensemble.recipe_hash} on node {node_id or '?'} "
                    f"but {expected} on the driver: install the same ensemble-cli and plugins on every node"
                )

    def ready(self) -> tuple[str, float]:
        """Load the models now; this node's id and the seconds loading took."""
        t0 = time.perf_counter()
        for ensemble in self.ensembles:
            ensemble.load()
        return self.node_id, time.perf_counter() - t0

    def run(self, batch: list[Example], system: int = 0) -> list[tuple]:
        """The batch's outcomes on recipe ``system``: ``("results", examples, results, timing)`` or
        ``("failed", example, message, traceback | None)``."""
        ensemble = self.ensembles[system]
        ensemble.load()  # a restarted actor loads again on its first batch
        pipeline = ensemble.pipeline
        outcomes: list[tuple] = []
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
