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
    from .generators.openai import OpenAIGenerator
    from .generators.vllm import VLLMGenerator

    register("hf", HFGenerator)
    register("vllm", VLLMGenerator)
    register("openai", OpenAIGenerator)


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

    register("reward", RewardAggregator)
