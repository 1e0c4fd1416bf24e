"""Run a recipe and each of its members alone on the same problems, in one process.

Each member becomes a one-model recipe with the ``single`` aggregator (that model writes the whole
answer) and *exactly* the recipe's generator config and generation settings. All pipelines share
one ``ModelPool``, keyed by the full generator spec, so every model is loaded once and the
baselines differ from the ensemble only in the method.

Systems are interleaved batch by batch (batch 1 on every system, then batch 2, …) rather than run
one after another: on a shared or thermally throttling machine, a slow minute then slows every
system alike instead of biasing whichever ran during it. Each system's wall time is the sum of its
own batch calls; loading is measured apart.

Every system writes its records (the ``ensemble run`` format) to its own JSONL file as it goes, so
an interrupted bench keeps what it produced and each file can be re-graded with ``ensemble eval``.
A member marked ``reused`` (see ``baselines``) has its earlier records copied to its file and their
earlier time stands; it runs only the batches after them (none when the earlier run covered every
problem: then its model is not even loaded for it). A system marked ``resumed`` (see ``resume``) keeps the records its
file already holds and runs only the batches after them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..batch import BatchRunner
from ..core.pool import ModelPool
from ..io.writers import ResultWriter
from ..plugins import get_registry
from ..recipe import ResolvedRecipe, apply_overrides, validate_recipe
from .baselines import Baseline
from .datasets import Row
from .resume import Resumed

if TYPE_CHECKING:
    from ..core.events import LoadEvent, LoadListener
    from ..core.pipeline import Pipeline
    from ..registry import Registry

SINGLE = "single"  #: the aggregator that runs one model alone


def member_recipe(
    resolved: ResolvedRecipe,
    member: str,
    registry: Registry | None = None,
    overrides: Sequence[str] = (),
) -> ResolvedRecipe:
    """``resolved`` reduced to ``member`` alone: same generator and generation settings, ``single``.

    ``overrides`` (``--member-set``, dotted ``key=value`` as ``--set``) then change the baseline only:
    an ensemble that samples (``temperature: 0.7``) should be compared with each member at its best
    single answer (``generation.temperature=0``), not with one sample of it, or the lift is inflated.
    """
    data = resolved.as_dict()
    models = [m for m in data["models"] if m["name"] == member]
    if not models:
        raise KeyError(member)
    data.update(
        name=f"{resolved.name}.{member}",
        description=f"{member} alone (baseline of {resolved.name})",
        models=models,
        selector={"type": "all"},
        aggregator={"type": SINGLE},
        scorer=None,
    )
    if overrides:
        data = apply_overrides(data, overrides)
    source = f"{resolved.source or resolved.name} (member {member} alone)"
    return validate_recipe(data, registry if registry is not None else get_registry(), source=source)


@dataclass
class System:
    """One thing being benchmarked: the ensemble or a member alone, and where its records go."""

    name: str
    resolved: ResolvedRecipe
    path: Path
    is_ensemble: bool = False
    seconds: float = 0.0
    records: list[dict[str, Any]] = field(default_factory=list)
    reused: Path | None = None  #: the earlier records file this member's run was taken from
    reused_all: bool = False  #: that file covered every problem: nothing left to run
    reused_count: int = 0  #: problems taken from that file
    resumed: int = 0  #: records kept from an interrupted run of this bench (its file holds them)

    def reuse(self, baseline: Baseline) -> None:
        """Take an earlier identical run, or its first batches (``baselines.find_baseline``)."""
        self.reused = baseline.path
        self.reused_all = baseline.complete
        self.reused_count = len(baseline.records)
        self.resumed = 0
        self.records = list(baseline.records)
        self.seconds = baseline.seconds

    def resume(self, point: Resumed) -> None:
        """Continue after the whole batches an interrupted run left (``resume.resume_point``)."""
        self.resumed = len(point.records)
        self.records = list(point.records)
        self.seconds = point.seconds


def systems_for(
    resolved: ResolvedRecipe,
    out_dir: Path,
    registry: Registry | None = None,
    member_overrides: Sequence[str] = (),
) -> list[System]:
    """Each member alone (recipe order, ``member_overrides`` applied), then the ensemble."""
    members = [
        System(
            m.name,
            member_recipe(resolved, m.name, registry, member_overrides),
            out_dir / f"member-{m.name}.jsonl",
        )
        for m in resolved.models
    ]
    taken = {m.name for m in members}
    name = resolved.name if resolved.name not in taken else f"{resolved.name}-ensemble"
    return [*members, System(name, resolved, out_dir / "ensemble.jsonl", is_ensemble=True)]


class Bench:
    """Loads every system's pipeline over one pool, then runs the rows through all of them."""

    def __init__(self, systems: Sequence[System], pool: ModelPool | None = None) -> None:
        from ..core.pipeline import Pipeline  # torch only when a bench really runs

        self.systems = list(systems)
        self.pool = pool if pool is not None else ModelPool()
        self._pipelines: list[Pipeline] = [Pipeline(s.resolved, pool=self.pool) for s in self.systems]

    def load(
        self, on_model: Callable[[str], None] | None = None, *, on_event: LoadListener | None = None
    ) -> float:
        """Load all models (each once); return the seconds it took. ``on_event`` hears each
        conversion and each member's load once (``core.events``), not again per system."""
        t0 = time.perf_counter()
        seen: set[str] = set()
        heard: set[tuple[str, type]] = set()

        def event_once(event: LoadEvent) -> None:
            member = getattr(event, "member", None)
            if on_event is None or (member is not None and (member, type(event)) in heard):
                return
            if member is not None:
                heard.add((member, type(event)))
            on_event(event)

        for system, pipeline in zip(self.systems, self._pipelines, strict=True):
            if system.reused_all:
                continue
            pipeline.load(on_model=lambda name: _once(name, seen, on_model), on_event=event_once)
        return time.perf_counter() - t0

    def run(
        self,
        rows: Sequence[Row],
        batch_size: int = 8,
        on_batch: Callable[[System, int], None] | None = None,
    ) -> None:
        """Run ``rows`` batch by batch through every system; ``on_batch(system, rows)`` after each.

        A system's records so far (reused or resumed) count as done: only the batches after them run.
        """
        done = [len(s.records) for s in self.systems]
        writers = [ResultWriter(s.path, resume=s.reused is None and s.resumed > 0) for s in self.systems]
        try:
            for system, writer in zip(self.systems, writers, strict=True):
                if system.reused is not None:
                    for record in system.records:
                        writer.write(record)
                if system.records and on_batch is not None:
                    on_batch(system, len(system.records))
            runners = [
                BatchRunner(
                    pipeline,
                    writer,
                    recipe_hash=system.resolved.hash,
                    recipe=system.resolved.as_dict(),
                    batch_size=batch_size,
                    on_record=system.records.append,
                )
                for system, pipeline, writer in zip(self.systems, self._pipelines, writers, strict=True)
            ]
            for start in range(0, len(rows), batch_size):
                batch = rows[start : start + batch_size]
                for system, runner, skip in zip(self.systems, runners, done, strict=True):
                    if start < skip:
                        continue
                    t0 = time.perf_counter()
                    runner.run(batch)
                    system.seconds += time.perf_counter() - t0
                    if on_batch is not None:
                        on_batch(system, len(batch))
        finally:
            for writer in writers:
                writer.close()


def _once(name: str, seen: set[str], on_model: Callable[[str], None] | None) -> None:
    if name not in seen:
        seen.add(name)
        if on_model is not None:
            on_model(name)
