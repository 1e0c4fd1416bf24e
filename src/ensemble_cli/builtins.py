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
    _register_model_scorers(register)


@hookimpl
def register_selectors(register: Register) -> None:
    """Built-in selectors."""
    from .selectors.all import AllSelector
    from .selectors.judgment import JudgmentSelector
    from .selectors.random import RandomSelector
    from .selectors.zscore import ZScoreSelector

    register("all", AllSelector)
    register("random", RandomSelector)
    register("zscore", ZScoreSelector)
    register("judgment", JudgmentSelector)


@hookimpl
def register_aggregators(register: Register) -> None:
    """Built-in aggregators."""
    from .aggregators.loop import LoopAggregator
    from .aggregators.progressive import ProgressiveAggregator
    from .aggregators.random import RandomAggregator
    from .aggregators.reward import RewardAggregator
    from .aggregators.single import SingleAggregator
    from .aggregators.topk_union import TopkUnionAggregator
    from .aggregators.union import UnionAggregator

    register("reward", RewardAggregator)
    register("single", SingleAggregator)
    register("loop", LoopAggregator)
    register("random", RandomAggregator)
    register("progressive", ProgressiveAggregator)
    register("union", UnionAggregator)
    register("topk-union", TopkUnionAggregator)
    _register_response_level_aggregators(register)


def _register_model_scorers(register: Register) -> None:
    """Scorers beyond logprob: model-based, answer-based, remote, and combinators."""
    from .scorers.consensus import ConsensusScorer
    from .scorers.pairwise import JudgeScorer
    from .scorers.prm import PRMScorer
    from .scorers.remote import RemoteScorer
    from .scorers.reward_model import RewardModelScorer
    from .scorers.self_certainty import SelfCertaintyScorer
    from .scorers.vote import VoteScorer
    from .scorers.weighted import WeightedScorer

    register("prm", PRMScorer)
    register("reward-model", RewardModelScorer)
    register("self-certainty", SelfCertaintyScorer)
    register("consensus", ConsensusScorer)
    register("vote", VoteScorer)
    register("remote", RemoteScorer)
    register("weighted", WeightedScorer)
    register("judge", JudgeScorer)


def _register_response_level_aggregators(register: Register) -> None:
    """Response-level aggregators: whole answers chosen, ranked or synthesised."""
    from .aggregators.best_of_n import BestOfNAggregator
    from .aggregators.cascade import CascadeAggregator
    from .aggregators.moa import MoAAggregator
    from .aggregators.rank import RankAggregator

    register("best-of-n", BestOfNAggregator)
    register("rank", RankAggregator)
    register("moa", MoAAggregator)
    register("cascade", CascadeAggregator)
