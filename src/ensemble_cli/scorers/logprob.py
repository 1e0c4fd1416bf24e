"""The ``logprob`` scorer: a candidate's mean token log-probability.

``under: writer`` (the default) needs no extra model and no extra forward pass: the log-probs come
with the segment. Each candidate is then scored under its *own* generating model and its own
tokenizer, so scores of different members are comparable only loosely (a model is usually surer
of its own text). A candidate with no tokens scores ``-inf``, except an immediate end-of-sequence,
which scores the log-prob of that EOS token.

``under: <member>`` or ``under: all`` teacher-forces the candidate's text through that member's
model (or every member's, averaged; see ``under_member``): one yardstick for every writer, at the
cost of a forward pass. There a candidate with no text scores ``-inf`` (nothing to judge).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.components import Candidate, ComponentConfig, Member, Scorer
from ..core.types import TokenScores
from ..errors import Problem
from .under_member import UnderConfig, check_under, score_under, under_problems


class LogprobConfig(UnderConfig):
    pass


def _mean_logprob(ts: TokenScores) -> float:
    return ts.mean if ts.logprobs else float("-inf")


class LogprobScorer(Scorer):
    description = "mean token log-prob of the candidate under its writer, a named member, or all members"
    Config = LogprobConfig
    config: LogprobConfig

    @classmethod
    def recipe_problems(cls, config: ComponentConfig, models: Sequence[str]) -> list[Problem]:
        return under_problems(config, models)

    def bind(self, members: Sequence[Member]) -> None:
        check_under("logprob", self.config.under, members)
        super().bind(members)

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        if self.config.under == "writer":
            return [c.segment.mean_logprob for c in candidates]
        return score_under(self, self.config.under, candidates, _mean_logprob)
