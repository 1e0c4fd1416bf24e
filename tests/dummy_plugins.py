"""Dummy components for registry/plugin/recipe tests: one per kind, none of them loads anything.

Registered inline through the real hook path (``load_registry(extra_plugins=[dummy_plugins],
builtins=False)``), so the tests never depend on the built-ins. Every component counts its
instances, so tests can prove that validating a recipe builds nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import ClassVar, Literal

from ensemble_cli.core.components import (
    Aggregator,
    Candidate,
    ComponentConfig,
    EnsembleContext,
    Generator,
    Member,
    Scorer,
    Selector,
)
from ensemble_cli.core.sessions import SessionBatch
from ensemble_cli.core.types import Example, GenerationSettings, Result
from ensemble_cli.hookspecs import Register, hookimpl
from ensemble_cli.plugins import load_registry
from ensemble_cli.registry import Registry


class _Counted:
    instances: ClassVar[int] = 0

    def __init__(self, config: ComponentConfig | None = None) -> None:
        type(self).instances += 1
        super().__init__(config)  # type: ignore[call-arg]


class DummyGenerator(_Counted, Generator):
    """A generator whose model is never loaded."""

    class Config(ComponentConfig):
        model: str
        dtype: Literal["float32", "bfloat16"] = "float32"

    def open(self, examples: Sequence[Example], settings: GenerationSettings) -> SessionBatch:
        raise AssertionError("a dummy generator is never opened")


class DummyScorer(_Counted, Scorer):
    """Scores every candidate 0."""

    class Config(ComponentConfig):
        normalize: bool = True

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        return [0.0 for _ in candidates]


class EveryoneSelector(_Counted, Selector):
    """Every member takes part."""

    def select(self, examples: Sequence[Example], members: Sequence[Member]) -> list[list[str]]:
        return [[m.name for m in members] for _ in examples]


class RewardLike(_Counted, Aggregator):
    """Segment-level aggregator shape: needs a scorer."""

    needs_scorer = True

    class Config(ComponentConfig):
        segment_tokens: int = 32
        max_rounds: int = 16

    def run(self, examples: Sequence[Example], ctx: EnsembleContext) -> list[Result]:
        return [Result(id=e.id) for e in examples]


class LoopLike(_Counted, Aggregator):
    """An aggregator that needs no scorer."""

    def run(self, examples: Sequence[Example], ctx: EnsembleContext) -> list[Result]:
        return [Result(id=e.id) for e in examples]


ALL_COMPONENTS = (DummyGenerator, DummyScorer, EveryoneSelector, RewardLike, LoopLike)


@hookimpl
def register_generators(register: Register) -> None:
    register("dummy", DummyGenerator)


@hookimpl
def register_scorers(register: Register) -> None:
    register("dummy-scorer", DummyScorer)


@hookimpl
def register_selectors(register: Register) -> None:
    register("all", EveryoneSelector)


@hookimpl
def register_aggregators(register: Register) -> None:
    register("reward", RewardLike)
    register("loop", LoopLike)


def make_plugin(name: str, **hooks: Callable[..., object]) -> ModuleType:
    """A plugin module called ``name`` whose hooks are the given functions (``register_*=fn``)."""
    module = ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


def dummy_registry(*extra: object) -> Registry:
    """A registry with only the dummy components (no built-ins, no installed plugins)."""
    from unittest import mock

    import ensemble_cli.plugins

    this = sys.modules[__name__]  # this very module is the plugin
    # hide installed third-party distributions (e.g. the example plugin) entirely
    with mock.patch.object(ensemble_cli.plugins, "_entry_points", lambda: []):
        return load_registry(autoload=False, builtins=False, extra_plugins=[this, *extra])
