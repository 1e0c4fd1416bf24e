"""The ``self-certainty`` scorer: how confident a model's next-token distributions are along a candidate.

At each position of the candidate's text (teacher-forced, see ``under_member``), the confidence is
``KL(U || p) = -log V - mean_v log p(v)``: 0 when the model's distribution is uniform over its
vocabulary, growing as it concentrates. The score is its mean over the candidate's tokens
(Kang et al., 2025, "Scalable Best-of-N Selection via Self-Certainty"). Unlike log-prob it does not
reward a text for merely being likely, only the model for being sure while reading it, so it is
less fooled by short or repetitive candidates. ``V`` differs between models, so under ``all`` the
members' scales differ somewhat (each is still 0 for "no idea"). A candidate with no text scores
``-inf``. Unlike ``logprob``, ``under: writer`` also costs a forward pass (the sampled segment
carries only the chosen tokens' log-probs).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.components import Candidate, ComponentConfig, Member, Scorer
from ..core.types import TokenScores
from ..errors import Problem
from .under_member import UnderConfig, check_under, score_under, under_problems


class SelfCertaintyConfig(UnderConfig):
    pass


def _mean_certainty(ts: TokenScores) -> float:
    return sum(ts.certainty) / len(ts.certainty) if ts.certainty else float("-inf")


class SelfCertaintyScorer(Scorer):
    description = "mean KL(uniform || next-token distribution) over the candidate, under a member's model"
    Config = SelfCertaintyConfig
    config: SelfCertaintyConfig

    @classmethod
    def recipe_problems(cls, config: ComponentConfig, models: Sequence[str]) -> list[Problem]:
        return under_problems(config, models)

    def bind(self, members: Sequence[Member]) -> None:
        check_under("self-certainty", self.config.under, members)
        super().bind(members)

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        return score_under(self, self.config.under, candidates, _mean_certainty)
