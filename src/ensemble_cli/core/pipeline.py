"""The Pipeline: a resolved recipe turned into live components, run batch by batch.

Per batch: the selector picks members per example; examples with the same selection are grouped
(in first-seen order) and each group is handed to the aggregator with an ``EnsembleContext``; the
results come back in input order with ``selected_models`` filled in (the selector's choice, or the
subset an aggregator reports having run, e.g. a cascade row the cheap member settled). The pipeline holds no
per-request state, so the CLI and the server can share one instance.

Every component is built through ``guard.build_guarded``: an exception a component raises, or a
result that breaks its base class's contract, becomes a ``ComponentError`` naming the component,
its kind and its plugin (the one boundary for plugin failures; see ``core.guard``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from .components import Aggregator, EnsembleContext, Generator, Member, Scorer, Selector
from .events import Loaded, Loading, LoadListener, ProgressHook
from .guard import build_guarded
from .invariance import batch_invariant_scope
from .pool import ModelPool, default_pool
from .types import Example, GenerationSettings, Result

if TYPE_CHECKING:
    from ..recipe import ResolvedRecipe


class Pipeline:
    def __init__(self, resolved: ResolvedRecipe, pool: ModelPool | None = None) -> None:
        self.resolved = resolved
        self.pool = pool or default_pool()
        self.members: list[Member] = []
        for spec in resolved.models:
            gen = cast(Generator, build_guarded(spec, member=spec.name))
            gen.pool = self.pool
            gen.configure(resolved.generation)
            self.members.append(Member(spec.name, gen))
        self.selector = cast(Selector, build_guarded(resolved.selector))
        self.aggregator = cast(Aggregator, build_guarded(resolved.aggregator))
        self.scorer = cast(Scorer, build_guarded(resolved.scorer)) if resolved.scorer else None
        for comp in (self.selector, self.aggregator, self.scorer):
            if comp is not None:
                comp.pool = self.pool
        if self.scorer is not None:
            self.scorer.bind(self.members)
        self._by_name = {m.name: m for m in self.members}

    @property
    def recipe_hash(self) -> str:
        return self.resolved.hash

    def load(
        self, on_model: Callable[[str], None] | None = None, *, on_event: LoadListener | None = None
    ) -> None:
        """Load every member's weights now (they would otherwise load on first use).

        Built-in aliases not yet in the conversion cache are converted first, concurrently (one
        worker process each). ``on_event`` hears each conversion and each member's load as it
        starts and ends (``core.events``), so a caller can show what is happening at every moment;
        ``on_model(name)`` is the older, simpler hook called after each member has loaded.
        """
        from ..models.prepare import prepare_aliases
        from ..quiet import quiet_third_party

        quiet_third_party()
        prepare_aliases([a for m in self.members for a in m.generator.offline_aliases()], on_event=on_event)
        for member, spec in zip(self.members, self.resolved.models, strict=True):
            label = _load_label(spec.type, member.generator)
            if on_event is not None:
                on_event(Loading(member.name, label))
            t0 = time.perf_counter()
            member.generator.load()
            if on_event is not None:
                on_event(Loaded(member.name, label, time.perf_counter() - t0, member.generator.footprint()))
            if on_model is not None:
                on_model(member.name)

    def run_batch(
        self,
        examples: Sequence[Example],
        settings: GenerationSettings | None = None,
        *,
        on_text: Callable[[int, str], None] | None = None,
        cancelled: Callable[[int], bool] | None = None,
        on_progress: ProgressHook | None = None,
        on_piece: Callable[[int, str, str | None], None] | None = None,
    ) -> list[Result]:
        """Run one batch. ``settings`` overrides the recipe's generation settings for this call (the
        server's per-request ``max_tokens``, ``temperature``, ``stop``, ``seed``); ``on_text`` receives
        each piece of output as it becomes final, ``cancelled`` stops an example early and
        ``on_progress`` hears how far each example has got after every round, ``on_piece`` hears what
        ``on_text`` hears plus the member that wrote the piece (the Python API's ``stream``) — all
        with the example's index in ``examples``."""
        examples = list(examples)
        if not examples:
            return []
        settings = settings or self.resolved.generation
        with batch_invariant_scope(settings.batch_invariant):
            return self._run_groups(examples, settings, on_text, cancelled, on_progress, on_piece)

    def _run_groups(
        self,
        examples: list[Example],
        settings: GenerationSettings,
        on_text: Callable[[int, str], None] | None,
        cancelled: Callable[[int], bool] | None,
        on_progress: ProgressHook | None,
        on_piece: Callable[[int, str, str | None], None] | None,
    ) -> list[Result]:
        selections = self.selector.select(examples, self.members)
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, names in enumerate(selections):
            groups.setdefault(tuple(names), []).append(i)
        results: list[Result | None] = [None] * len(examples)
        for names, idx in groups.items():
            ctx = EnsembleContext(
                members=[self._by_name[n] for n in names],
                scorer=self.scorer,
                settings=settings,
                on_text=_reindexed(on_text, idx),
                cancelled=_reindexed(cancelled, idx),
                on_progress=_reindexed(on_progress, idx),
                on_piece=_reindexed(on_piece, idx),
            )
            out = self.aggregator.run([examples[i] for i in idx], ctx)  # one per example: checked by the guard
            for i, res in zip(idx, out, strict=True):
                if not res.selected_models:
                    res.selected_models = list(names)
                elif not set(res.selected_models) <= set(names):  # an aggregator may only narrow it
                    raise RuntimeError(
                        f"aggregator '{self.resolved.aggregator.type}' reports models {res.selected_models} "
                        f"outside the selection {list(names)}"
                    )
                results[i] = res
        return [r for r in results if r is not None]


def _load_label(kind: str, generator: Generator) -> str:
    """``hf gemma3-270m bfloat16``: the generator type and, where its config has them, model and dtype."""
    parts = [kind, getattr(generator.config, "model", None), getattr(generator.config, "dtype", None)]
    return " ".join(str(p) for p in parts if p)


def _reindexed(hook: Callable[..., Any] | None, idx: list[int]) -> Callable[..., Any] | None:
    """A per-group hook taking the group-local index, calling ``hook`` with the batch index."""
    if hook is None:
        return None
    return lambda i, *args: hook(idx[i], *args)
