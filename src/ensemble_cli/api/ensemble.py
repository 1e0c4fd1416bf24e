"""``Ensemble``: the public front door from a recipe to results.

One object owns a validated recipe, its ``Pipeline`` (built and loaded on first use, or by
``load()``) and a lease on the process's ``ModelPool``: two ``Ensemble``s naming the same model
(same generator and config) share one loaded copy, and ``close()`` gives the lease back, so the
model is freed once no other ``Ensemble`` holds it (the CLI and the server pin theirs).

Calls on one ``Ensemble`` run one at a time (a lock): transformers tokenizers and models are not
safe to drive from several threads at once, and a run already batches its examples. The async
methods run the same work on a worker thread, so an asyncio service's event loop never blocks;
for batching many concurrent requests together, ``ensemble serve`` has the engine loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.events import LoadListener
from ..core.pool import ModelPool, PoolLease, default_pool
from ..errors import UsageError
from ..io.records import Timing
from .inputs import as_examples
from .recipes import Overrides, RecipeSource, resolve, with_sampling
from .results import Completion, StreamPiece

if TYPE_CHECKING:
    from ..core.pipeline import Pipeline
    from ..core.types import Example
    from ..distributed.options import RayOptions
    from ..recipe import ResolvedRecipe
    from ..registry import Registry
    from .runs import RunReport
    from .streams import Stream

PieceHook = Callable[[int, str, str | None], None]


class Ensemble:
    """A recipe ready to answer: ``generate``, ``stream``, ``agenerate``, ``astream``, ``run``."""

    def __init__(self, resolved: ResolvedRecipe, *, pool: ModelPool | None = None, batch_size: int = 8) -> None:
        if batch_size < 1:
            raise UsageError(f"batch_size must be at least 1, got {batch_size}")
        self.resolved = resolved
        self.batch_size = batch_size
        self._lease: PoolLease = (pool or default_pool()).lease()
        self._pipeline: Pipeline | None = None
        self._loaded = False
        self._closed = False
        self._lock = threading.RLock()

    @classmethod
    def from_recipe(
        cls,
        recipe: RecipeSource,
        overrides: Overrides = None,
        *,
        batch_size: int = 8,
        pool: ModelPool | None = None,
        registry: Registry | None = None,
    ) -> Ensemble:
        """Validate ``recipe`` (a path, a dict, a ``Recipe`` or a ``ResolvedRecipe``) with
        ``overrides`` applied; nothing is loaded yet. Raises ``RecipeError`` listing every problem."""
        return cls(resolve(recipe, overrides, registry), pool=pool, batch_size=batch_size)

    # -- what it is -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.resolved.name

    @property
    def recipe_hash(self) -> str:
        return self.resolved.hash

    @property
    def members(self) -> list[str]:
        return [m.name for m in self.resolved.models]

    @property
    def loaded(self) -> bool:
        return self._loaded

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        state = "closed" if self._closed else "loaded" if self._loaded else "not loaded"
        return f"Ensemble({self.name!r}, members={self.members}, {state})"

    # -- life cycle -------------------------------------------------------------------------------
    def load(self, on_event: LoadListener | None = None) -> Ensemble:
        """Load every member now (else the first call does); ``on_event`` hears each step."""
        with self._lock:
            pipeline = self.pipeline
            if not self._loaded:
                pipeline.load(on_event=on_event)
                self._loaded = True
        return self

    @property
    def pipeline(self) -> Pipeline:
        """The live pipeline (built on first access; models still load lazily)."""
        from ..core.pipeline import Pipeline  # the component modules: only when there is work

        self._check_open()
        if self._pipeline is None:
            with self._lock:  # two threads asking at once (a server's handler and its engine) get one
                if self._pipeline is None:
                    self._pipeline = Pipeline(self.resolved, self._lease)
        return self._pipeline

    def close(self) -> None:
        """Let go of the models; those no other ``Ensemble`` holds are freed. Idempotent."""
        with self._lock:
            self._closed = True
            self._pipeline = None
            self._loaded = False
            self._lease.release()

    def __enter__(self) -> Ensemble:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise UsageError(f"Ensemble {self.name!r} is closed; create a new one")

    # -- generation -------------------------------------------------------------------------------
    def generate(self, x: Any, **sampling: Any) -> Completion | list[Completion]:
        """Answer ``x`` (a prompt, a messages list, an ``Example``, a row dict, or a list of these:
        one ``Completion`` for one item, a list for a list). ``sampling`` (``max_tokens``,
        ``temperature``, ``top_p``, ``seed``, ``stop``, ``ignore_eos``) overrides the recipe's
        ``generation`` for this call."""
        examples, single = as_examples(x)
        out = self._complete(examples, with_sampling(self.resolved, sampling))
        return out[0] if single else out

    def stream(self, x: Any, **sampling: Any) -> Stream:
        """Like ``generate``, as an iterator of ``StreamPiece``s the moment each is final; the
        ``Completion``s are on the returned ``Stream`` once it is exhausted. Leaving the loop early
        stops the generation."""
        from .streams import Stream

        examples, single = as_examples(x)
        resolved = with_sampling(self.resolved, sampling)
        return Stream(lambda on_piece, stop: self._complete(examples, resolved, on_piece, stop), examples, single)

    async def agenerate(self, x: Any, **sampling: Any) -> Completion | list[Completion]:
        """``generate`` on a worker thread: the event loop keeps serving while the ensemble writes."""
        return await asyncio.to_thread(self.generate, x, **sampling)

    def astream(self, x: Any, **sampling: Any) -> AsyncIterator[StreamPiece]:
        """``stream`` for asyncio: ``async for piece in ens.astream(x)``; the work runs on a thread."""
        from .streams import astream

        return astream(self.stream(x, **sampling))

    def _complete(
        self,
        examples: Sequence[Example],
        resolved: ResolvedRecipe,
        on_piece: PieceHook | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> list[Completion]:
        """Run ``examples`` batch by batch (``batch_size``, as ``ensemble run``) under the lock."""
        recipe, recipe_hash = resolved.as_dict(), resolved.hash
        out: list[Completion] = []
        with self._lock:
            self.load()
            pipeline = self.pipeline
            for first in range(0, len(examples), self.batch_size):
                batch = list(examples[first : first + self.batch_size])
                started, t0 = datetime.now(UTC), time.perf_counter()
                results = pipeline.run_batch(
                    batch,
                    resolved.generation,
                    on_piece=None if on_piece is None else _shifted(on_piece, first),
                    cancelled=None if stop is None else lambda _i: stop(),
                )
                timing = Timing(started_at=started, seconds=time.perf_counter() - t0, batch_size=len(batch))
                out += [
                    Completion(ex, res, timing, recipe_hash, recipe) for ex, res in zip(batch, results, strict=True)
                ]
        return out

    # -- datasets ---------------------------------------------------------------------------------
    def run(
        self,
        input: str | Path,
        output: str | Path | None = None,
        *,
        resume: bool = True,
        overwrite: bool = False,
        batch_size: int | None = None,
        limit: int | None = None,
        concurrency: int = 1,
        progress: bool = True,
        fields: Any = None,
        ray: RayOptions | None = None,
    ) -> RunReport:
        """``ensemble run`` from Python: see ``api.runs.run_dataset`` (``ray``: on a Ray actor pool)."""
        from .runs import run_dataset

        return run_dataset(
            self, input, output, resume=resume, overwrite=overwrite, batch_size=batch_size or self.batch_size,
            limit=limit, concurrency=concurrency, progress=progress, fields=fields, ray=ray,
        )


def _shifted(hook: PieceHook, offset: int) -> PieceHook:
    """A batch-local piece hook reporting the index in the whole call."""
    return lambda i, text, model: hook(offset + i, text, model)
