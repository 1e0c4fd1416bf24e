"""The ``union`` aggregator (GaC-style): a weighted average of the members' whole distributions.

Each member's next-token probabilities are mapped onto the union vocabulary (``vocab.union``: one
entry per byte string, whoever spells it) and averaged with the recipe's weights; the step's token
is chosen from that average (greedy, or sampled with temperature/top-p). Stepping, catch-up of
members whose tokenization differs, gating and attribution are shared with ``topk-union``
(``token_level``).
"""

from __future__ import annotations

import torch

from .token_level import StepInput, TokenLevelAggregator


class UnionAggregator(TokenLevelAggregator):
    description = "token-level: weighted average of all members' distributions over a byte-keyed union vocabulary"

    def merge(self, step: StepInput) -> torch.Tensor:
        u = step.union
        out = torch.zeros(step.weights.shape[1], len(u))
        for m, p in enumerate(step.probs):
            w = step.weights[m]
            if p is None or not bool((w > 0).any()):
                continue
            out.addcmul_(u.union_probs(m, p), w[:, None])
        return out
