"""Built-in components, registered through the same hooks as third-party plugins.

This module is the entry point ``builtins`` of group ``ensemble_cli`` in our own pyproject, so the
built-ins take exactly the path a ``pip install``-ed plugin takes. Imports are deferred into the
hooks so that ``ensemble plugins`` or ``recipes validate`` stay cheap where possible.
"""

from __future__ import annotations

from .hookspecs import Register, hookimpl


@hookimpl
def register_generators(register: Register) -> None:
    """Built-in generators."""
    from .generators.hf import HFGenerator

    register("hf", HFGenerator)


@hookimpl
def register_scorers(register: Register) -> None:
    """Built-in scorers."""
    from .scorers.logprob import LogprobScorer

    register("logprob", LogprobScorer)


@hookimpl
def register_selectors(register: Register) -> None:
    """Built-in selectors."""
    from .selectors.all import AllSelector

    register("all", AllSelector)


@hookimpl
def register_aggregators(register: Register) -> None:
    """Built-in aggregators."""
    from .aggregators.reward import RewardAggregator
    from .aggregators.single import SingleAggregator
    from .aggregators.topk_union import TopkUnionAggregator
    from .aggregators.union import UnionAggregator

    register("reward", RewardAggregator)
    register("single", SingleAggregator)
    register("union", UnionAggregator)
    register("topk-union", TopkUnionAggregator)
