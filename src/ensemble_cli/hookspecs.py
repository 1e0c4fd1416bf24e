"""The plugin hooks (pluggy project ``ensemble_cli``), in the style of ``simonw/llm``.

Each ``register_*`` hook receives a host-owned ``register(name, cls)`` callback instead of
returning classes, so the host can validate every registration on the spot (kebab-case name,
right base class, pydantic ``Config``) and know which plugin made it. A plugin implements any
subset of the hooks with ``@hookimpl``; built-ins use exactly the same path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from .core.components import Component

PROJECT = "ensemble_cli"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: The callback a ``register_*`` hook receives: ``register("reward", RewardAggregator)``.
Register = Callable[[str, "type[Component]"], None]


@hookspec
def register_generators(register: Register) -> None:
    """Register model backends (``Generator`` subclasses)."""


@hookspec
def register_scorers(register: Register) -> None:
    """Register candidate scorers (``Scorer`` subclasses)."""


@hookspec
def register_selectors(register: Register) -> None:
    """Register model selectors (``Selector`` subclasses)."""


@hookspec
def register_aggregators(register: Register) -> None:
    """Register ensemble methods (``Aggregator`` subclasses)."""


@hookspec
def register_commands(app: typer.Typer) -> None:
    """Add commands or sub-apps to the root ``ensemble`` Typer app."""
