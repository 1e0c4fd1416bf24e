"""``BatchRunner``'s contract with the batch calls on a pool of Ray actors (``ensemble run --ray``).

The driver does everything a local run does (``api.runs.run_dataset``: read and validate, skip
resumed ids, write with the crash-safe writer, progress, exit codes); this module only replaces
``pipeline.run_batch`` with a call on one of ``workers`` actors (``worker.BatchWorker``), each
holding its own pipeline and model pool, loaded once.

- *Order.* Records are written as batches come back (as with ``--concurrency``), not in input
  order: ``--resume`` works by id, and holding finished rows back would lose them on a crash.
- *A worker dies mid-batch* (its process killed, its node gone): Ray restarts the actor
  (``max_restarts=-1``) and the driver sends the batch again, to the next idle worker, so another
  one when there is one. Nothing of a batch is written until it has come back whole, so every id
  is written exactly once. A batch that has killed its worker ``max_retries`` + 1 times gets error
  records (say, a row that runs a node out of memory) and the run goes on; a worker that failed
  that many times in a row is dropped, and when none is left the run stops (``--resume`` goes on).
- *A batch that raises* is split to rows on the worker (``batch.run_isolated``, as locally), so
  only the failing rows get error records.
- *The driver dies*: the actors go with it (they are owned by the driver); the output holds every
  record written so far and ``--resume`` continues.

Row progress (tokens per round) stays on the workers; the driver's progress advances per record.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from ..batch import BatchPipeline, BatchRunner, RunStats
from ..core.types import Example
from ..errors import EnsembleError, describe
from ..io.readers import RowError
from ..verbosity import is_verbose
from .cluster import ClusterError, connect
from .options import RayOptions
from .worker import BatchWorker

if TYPE_CHECKING:
    from ..api.ensemble import Ensemble

LostHook = Callable[[str], None]
PROBE_EVERY = 0.5  #: seconds between probes of a restarting worker


class RayWorker(BatchWorker):
    """``BatchWorker`` that knows the Ray node it runs on (for ``timing.node_id``)."""

    def __init__(self, recipe: dict[str, Any], **kwargs: Any) -> None:
        import ray

        super().__init__(recipe, node_id=ray.get_runtime_context().get_node_id(), **kwargs)


@dataclass
class RayPool:
    """The connected cluster and the actor pool on it."""

    ray: Any
    options: RayOptions
    actors: list[Any] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, ensemble: Ensemble, options: RayOptions, status: Any, batches: int) -> RayPool:
        """Connect, check the cluster can hold the pool, start the actors and wait until every one
        has loaded its models (``status``: ``load_status``'s ``start``/``finish`` steps)."""
        status.start("ray", f"connecting to {options.where}")
        pool = cls(connect(options), options)
        try:
            status.finish("ray", f"connected to {options.where}")
            pool._spawn(ensemble, status, batches)
        except BaseException:
            pool.close()
            raise
        return pool

    def _spawn(self, ensemble: Ensemble, status: Any, batches: int) -> None:
        ray, opts = self.ray, self.options
        gpus = opts.gpus_for(ensemble.resolved)
        resources = ray.cluster_resources()
        workers = opts.pool_size(resources, gpus, batches)
        _check_fits(resources, opts, workers, gpus)
        actor_cls = ray.remote(RayWorker).options(
            num_cpus=opts.num_cpus, num_gpus=gpus, max_restarts=-1, max_task_retries=0,
            scheduling_strategy="SPREAD",
        )
        recipe = ensemble.resolved.recipe.model_dump(mode="json", exclude_unset=True)
        threads = max(1, int(opts.num_cpus))
        self.actors = [
            actor_cls.remote(recipe, recipe_hash=ensemble.recipe_hash, verbose=is_verbose(), threads=threads)
            for _ in range(workers)
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


@dataclass
class _Flight:
    worker: int  #: index into ``RayPool.actors``
    batch: list[Example] | None  #: ``None``: a probe waiting for a restarted worker to be ready again
    attempts: int = 0


class RayBatchRunner(BatchRunner):
    """Runs rows as ``BatchRunner`` does, each batch on an idle actor of ``pool``; records are
    written here, on the driver, as the batches come back. ``on_lost(message)`` hears of each
    batch sent again because its worker was lost."""

    def __init__(self, pool: RayPool, writer: Any, *, on_lost: LostHook | None = None, **kwargs: Any) -> None:
        super().__init__(cast(BatchPipeline, None), writer, **kwargs)
        self.pool = pool
        self.on_lost = on_lost

    def run(self, items: Iterable[Example | RowError]) -> RunStats:
        """Keep every idle worker busy until the batches run out. A worker that lost its batch gets no
        new one until a probe (``ready``) answers: while Ray restarts it the probe is refused at once
        and sent again a moment later, so no batch is burnt on an actor that is still restarting."""
        ray, actors, max_retries = self.pool.ray, self.pool.actors, self.pool.options.max_retries
        batches = iter(self._batches(items))
        idle: deque[int] = deque(range(len(actors)))
        strikes = [0] * len(actors)  # batches lost in a row per worker
        retry: deque[tuple[list[Example], int]] = deque()
        flights: dict[Any, _Flight] = {}
        restarting: dict[int, float] = {}  # worker → when to probe it again
        exhausted = False
        while True:
            while idle and (retry or not exhausted):
                batch, attempts = retry.popleft() if retry else (next(batches, None), 0)
                if batch is None:
                    exhausted = True
                    break
                worker = idle.popleft()
                flights[actors[worker].run.remote(batch)] = _Flight(worker, batch, attempts)
            for worker, when in list(restarting.items()):
                if when <= time.monotonic():
                    del restarting[worker]
                    flights[actors[worker].ready.remote()] = _Flight(worker, None)
            if not any(f.batch is not None for f in flights.values()) and not retry and exhausted:
                return self.stats  # only probes left: nothing more to run
            if not flights and not restarting:
                left = sum(len(b) for b, _ in retry) + sum(len(b) for b in batches)
                raise ClusterError(
                    f"every Ray worker at {self.pool.options.where} has failed; {left} rows not run "
                    "(--resume continues)"
                )
            ready, _ = ray.wait(list(flights), num_returns=1, timeout=PROBE_EVERY if restarting else None)
            if not ready:
                continue
            flight = flights.pop(ready[0])
            try:
                outcomes = ray.get(ready[0])
            except Exception as exc:  # the worker died, or could not run the batch at all
                if flight.batch is not None:  # probe it at once: it may not be lost for good
                    self._lost(flight, exc, max_retries, retry)
                    strikes[flight.worker] += 1
                    if strikes[flight.worker] <= max_retries:
                        restarting[flight.worker] = time.monotonic()
                elif isinstance(exc, ray.exceptions.ActorUnavailableError):  # still restarting
                    restarting[flight.worker] = time.monotonic() + PROBE_EVERY
                continue  # else: the worker cannot come back, or keeps losing batches; it leaves the pool
            idle.append(flight.worker)
            if flight.batch is None:
                continue
            strikes[flight.worker] = 0
            for outcome in outcomes:
                if outcome[0] == "failed":
                    self._emit_failure_text(outcome[1], outcome[2], outcome[3])
                else:
                    self._emit_results(outcome[1], outcome[2], outcome[3])

    def _lost(self, flight: _Flight, exc: BaseException, max_retries: int, retry: deque) -> None:
        """Send the batch of a lost worker again, or, past ``max_retries``, give its rows error records."""
        assert flight.batch is not None
        reason = _short(describe(getattr(exc, "cause", None) or exc))
        if flight.attempts < max_retries:
            retry.append((flight.batch, flight.attempts + 1))
            if self.on_lost is not None:
                self.on_lost(f"a Ray worker lost a batch of {len(flight.batch)} rows ({reason}); sending it again")
            return
        for example in flight.batch:
            self._emit_failure_text(example, f"Ray workers failed {flight.attempts + 1} times on this batch: {reason}")


def _short(text: str, limit: int = 160) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def timed_start(ensemble: Ensemble, options: RayOptions, status: Any, batches: int) -> tuple[RayPool, float]:
    """``RayPool.start`` and the seconds it took (connecting and loading every worker's models)."""
    t0 = time.perf_counter()
    pool = RayPool.start(ensemble, options, status, batches)
    return pool, time.perf_counter() - t0
