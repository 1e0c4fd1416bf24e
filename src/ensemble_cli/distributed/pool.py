"""The actor pool on a Ray cluster: connect, check it fits, start the workers, wait until loaded.

Each actor is a ``worker.BatchWorker`` with ``num_cpus`` CPUs (and as many torch threads) and the
GPUs its recipe needs, spread over the nodes (``SPREAD``). Ray restarts an actor whose process dies
(``max_restarts=-1``); its tasks are not retried by Ray (``max_task_retries=0``): the driver sends
a lost batch again itself (``dispatch``), to whichever worker is idle.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import EnsembleError, describe
from ..verbosity import is_verbose
from .cluster import ClusterError, connect
from .options import RayOptions
from .worker import BatchWorker

if TYPE_CHECKING:
    from ..recipe import ResolvedRecipe


class RayWorker(BatchWorker):
    """``BatchWorker`` that knows the Ray node it runs on (for ``timing.node_id``)."""

    def __init__(self, recipes: list[dict[str, Any]], **kwargs: Any) -> None:
        import ray

        super().__init__(recipes, node_id=ray.get_runtime_context().get_node_id(), **kwargs)


@dataclass
class RayPool:
    """The connected cluster and the actor pool on it."""

    ray: Any
    options: RayOptions
    actors: list[Any] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, recipes: list[ResolvedRecipe], options: RayOptions, status: Any, batches: int) -> RayPool:
        """Connect, check the cluster can hold the pool, start the actors (each holding every recipe
        in ``recipes``) and wait until every one has loaded its models (``status``: ``load_status``'s
        ``start``/``finish`` steps). At most ``batches`` workers unless ``--ray-workers`` says more."""
        status.start("ray", f"connecting to {options.where}")
        pool = cls(connect(options), options)
        try:
            status.finish("ray", f"connected to {options.where}")
            pool._spawn(recipes, status, batches)
        except BaseException:
            pool.close()
            raise
        return pool

    def _spawn(self, recipes: list[ResolvedRecipe], status: Any, batches: int) -> None:
        ray, opts = self.ray, self.options
        gpus = max(opts.gpus_for(r) for r in recipes)
        resources = ray.cluster_resources()
        workers = opts.pool_size(resources, gpus, batches)
        _check_fits(resources, opts, workers, gpus)
        actor_cls = ray.remote(RayWorker).options(
            num_cpus=opts.num_cpus, num_gpus=gpus, max_restarts=-1, max_task_retries=0,
            scheduling_strategy="SPREAD",
        )
        data = [r.recipe.model_dump(mode="json", exclude_unset=True) for r in recipes]
        hashes = [r.hash for r in recipes]
        threads = max(1, int(opts.num_cpus))
        self.actors = [
            actor_cls.remote(data, hashes=hashes, verbose=is_verbose(), threads=threads) for _ in range(workers)
        ]
        for i in range(workers):
            status.start(f"worker{i}", f"starting Ray worker {i + 1}/{workers} and loading its models")
        for i, actor in enumerate(self.actors):
            try:
                node, seconds = ray.get(actor.ready.remote())
            except Exception as exc:
                raise _startup_error(i, exc) from None
            self.nodes.append(node)
            status.finish(
                f"worker{i}", f"Ray worker {i + 1} ready on node {node[:12]} (models loaded in {seconds:.1f} s)"
            )

    def close(self) -> None:
        """Stop the actors and leave the cluster (a local instance stops with it)."""
        for actor in self.actors:
            with contextlib.suppress(Exception):  # already gone: nothing to stop
                self.ray.kill(actor)
        self.actors = []
        self.ray.shutdown()


def _check_fits(resources: dict[str, float], opts: RayOptions, workers: int, gpus: float) -> None:
    """Refuse a pool the cluster can never hold (its actors would wait for resources forever)."""
    for name, each in (("CPU", opts.num_cpus), ("GPU", gpus)):
        need, have = each * workers, resources.get(name, 0.0)
        if need > have:
            flag = "--ray-num-cpus" if name == "CPU" else "--ray-num-gpus"
            raise ClusterError(
                f"{workers} Ray workers × {each:g} {name} need {need:g} {name}s; the cluster at {opts.where} "
                f"has {have:g} (lower --ray-workers or {flag}, or add nodes)"
            )


def _startup_error(index: int, exc: BaseException) -> EnsembleError:
    """A worker that failed to start: our own error as it was raised there, else one naming the worker."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, EnsembleError):
        return cause
    return ClusterError(f"Ray worker {index + 1} failed to start: {describe(cause or exc)}")
