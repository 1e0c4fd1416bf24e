"""Keeping a pool of Ray workers busy with batches, and sending again what a dead worker lost.

``dispatch`` hands each task (a batch, and which of the worker's recipes runs it) to an idle
worker and gives every finished task's outcomes to ``done``, on the driver, as it comes back.

- *A worker dies mid-batch* (its process killed, its node gone): Ray restarts the actor, and the
  task goes back in the queue for the next idle worker (another one when there is one). Nothing of
  a task reaches ``done`` until it has come back whole, so every row is delivered exactly once.
- The lost worker gets no new task until a probe (``ready``) answers: while Ray restarts it the
  probe is refused at once and sent again a moment later, so no task is burnt on an actor that is
  still restarting (and the restarted actor has loaded its models when it rejoins).
- A task lost ``max_retries`` + 1 times goes to ``failed`` (its rows get error records: say, a row
  that runs a node out of memory) and the run goes on; a worker that lost that many tasks in a row
  leaves the pool, and when none is left ``ClusterError`` stops the run (``--resume`` goes on).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..core.types import Example
from ..errors import describe
from .cluster import ClusterError
from .pool import RayPool

PROBE_EVERY = 0.5  #: seconds between probes of a restarting worker


@dataclass
class Task:
    batch: list[Example]
    system: int = 0  #: which of the workers' recipes runs it
    attempts: int = 0
    key: Any = None  #: the caller's own bookkeeping (``ray_bench``: where the batch starts)


@dataclass
class _Flight:
    worker: int  #: index into ``RayPool.actors``
    task: Task | None  #: ``None``: a probe waiting for a restarted worker


def dispatch(
    pool: RayPool,
    tasks: Iterator[Task],
    done: Callable[[Task, list[tuple]], None],
    failed: Callable[[Task, str], None],
    on_lost: Callable[[str], None] | None = None,
) -> None:
    """Run every task on the pool; ``done(task, outcomes)`` as each comes back, ``failed(task,
    reason)`` for one that lost its worker too often."""
    ray, actors, max_retries = pool.ray, pool.actors, pool.options.max_retries
    idle: deque[int] = deque(range(len(actors)))
    strikes = [0] * len(actors)  # tasks lost in a row per worker
    retry: deque[Task] = deque()
    flights: dict[Any, _Flight] = {}
    restarting: dict[int, float] = {}  # worker → when to probe it again
    exhausted = False
    while True:
        while idle and (retry or not exhausted):
            task = retry.popleft() if retry else next(tasks, None)
            if task is None:
                exhausted = True
                break
            worker = idle.popleft()
            flights[actors[worker].run.remote(task.batch, task.system)] = _Flight(worker, task)
        for worker, when in list(restarting.items()):
            if when <= time.monotonic():
                del restarting[worker]
                flights[actors[worker].ready.remote()] = _Flight(worker, None)
        if not any(f.task is not None for f in flights.values()) and not retry and exhausted:
            return  # only probes left: nothing more to run
        if not flights and not restarting:
            left = sum(len(t.batch) for t in retry) + sum(len(t.batch) for t in tasks)
            raise ClusterError(
                f"every Ray worker at {pool.options.where} has failed; {left} rows not run (--resume continues)"
            )
        ready, _ = ray.wait(list(flights), num_returns=1, timeout=PROBE_EVERY if restarting else None)
        if not ready:
            continue
        flight = flights.pop(ready[0])
        try:
            outcomes = ray.get(ready[0])
        except Exception as exc:  # the worker died, or could not run the task at all
            if flight.task is not None:  # probe it at once: it may not be lost for good
                _lost(flight.task, exc, max_retries, retry, failed, on_lost)
                strikes[flight.worker] += 1
                if strikes[flight.worker] <= max_retries:
                    restarting[flight.worker] = time.monotonic()
            elif isinstance(exc, ray.exceptions.ActorUnavailableError):  # still restarting
                restarting[flight.worker] = time.monotonic() + PROBE_EVERY
            continue  # else: the worker cannot come back, or keeps losing tasks; it leaves the pool
        idle.append(flight.worker)
        if flight.task is not None:
            strikes[flight.worker] = 0
            done(flight.task, outcomes)


def _lost(
    task: Task, exc: BaseException, max_retries: int, retry: deque[Task],
    failed: Callable[[Task, str], None], on_lost: Callable[[str], None] | None,
) -> None:
    """Queue a lost task again, or, past ``max_retries``, hand it to ``failed``."""
    reason = _short(describe(getattr(exc, "cause", None) or exc))
    if task.attempts < max_retries:
        retry.append(Task(task.batch, task.system, task.attempts + 1, task.key))
        if on_lost is not None:
            on_lost(f"a Ray worker lost a batch of {len(task.batch)} rows ({reason}); sending it again")
        return
    failed(task, f"Ray workers failed {task.attempts + 1} times on this batch: {reason}")


def _short(text: str, limit: int = 160) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
