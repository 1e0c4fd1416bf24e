"""The ``logprob`` scorer: a candidate's mean token log-probability under the model that wrote it.

It needs no extra model and no extra forward pass: the log-probs come with the segment. Each
candidate is scored under its *own* generating model and its own tokenizer, so scores of different
members are comparable only loosely (a model is usually surer of its own text). This is the seed's
default and a sensible baseline; cross-model scoring belongs to the scorers of the scorer issue.
A candidate with no tokens scores ``-inf``, except an immediate end-of-sequence, which scores the
log-prob of that EOS token.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.components import Candidate, ComponentConfig, Scorer


class LogprobConfig(ComponentConfig):
    pass


class LogprobScorer(Scorer):
    description = "mean token log-prob of the candidate under the model that generated it"
    Config = LogprobConfig

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        return [c.segment.mean_logprob for c in candidates]
