"""The ``topk-union`` aggregator (UniTE-style): average over the union of each member's top-k tokens.

Per step, the candidates are the union entries of every voting member's ``k`` most likely tokens;
each member's probabilities are restricted to those candidates and renormalised (a member that
cannot spell a candidate as one token gives it 0), then averaged with the recipe's weights. Unlike
the published method, members are never re-run over their whole sequence: stepping, catch-up,
gating and attribution are shared with ``union`` (``token_level``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from .token_level import TokenLevelAggregator, TokenLevelConfig
from .token_stepping import StepInput

if TYPE_CHECKING:  # imported in the methods: registering this aggregator must stay cheap
    import torch


class TopkUnionConfig(TokenLevelConfig):
    k: int = Field(10, gt=0, le=1000, description="top tokens taken from each member per step")


class TopkUnionAggregator(TokenLevelAggregator):
    description = "token-level: average over the union of each member's top-k tokens (renormalised)"
    Config = TopkUnionConfig
    config: TopkUnionConfig

    def merge(self, step: StepInput) -> torch.Tensor:
        import torch

        u = step.union
        rows = step.weights.shape[1]
        dummy = len(u)  # a column no member spells: stands in for tokens that cannot be candidates
        cands = []
        for m, d in enumerate(step.dists):
            if d is None:
                continue
            ids = d.topk(self.config.k)[1]
            ent = u.members[m].token_entry[ids]
            ok = (ent >= 0) & (step.weights[m][:, None] > 0)
            cands.append(torch.where(ok, ent, torch.full_like(ent, dummy)))
        out = torch.full((rows, dummy + 1), -1.0)
        if not cands:
            return out[:, :dummy]
        c = torch.cat(cands, dim=1).sort(dim=1).values
        valid = c != dummy
        valid[:, 1:] &= c[:, 1:] != c[:, :-1]  # each entry once
        agg = torch.zeros(c.shape)
        for m, d in enumerate(step.dists):
            w = step.weights[m]
            if d is None or not bool((w > 0).any()):
                continue
            q = u.entry_probs(m, d, c) * valid
            q = q / q.sum(dim=1, keepdim=True).clamp(min=1e-30)
            agg += w[:, None] * q
        out.scatter_reduce_(1, c, torch.where(valid, agg, torch.full_like(agg, -1.0)), "amax")
        return out[:, :dummy]
