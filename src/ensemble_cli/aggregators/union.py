"""The ``union`` aggregator (GaC-style): a weighted average of the members' whole distributions.

Each member's next-token probabilities are mapped onto the union vocabulary (``vocab.union``: one
entry per byte string, whoever spells it) and averaged with the recipe's weights; the step's token
is chosen from that average (greedy, or sampled with temperature/top-p). Stepping, catch-up of
members whose tokenization differs, gating and attribution are shared with ``topk-union``
(``token_level``).

Greedy steps rarely need the whole average. ``candidates`` scores exactly the entries of each
voting member's ``GREEDY_TOP`` most likely tokens; an entry outside them gets at most the
(``GREEDY_TOP``+1)-th probability from each member, so when the best candidate beats the weighted
sum of those, it is the full merge's choice (same ties) and the 265k-entry layout is skipped. A row
where that bound does not hold (flat distributions) takes the full merge.

``mode: mixture`` (sampling only) draws each step's token from the same average by first drawing one
member by weight and sampling from it alone, so only that member runs (``mixture.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from .token_level import TokenLevelAggregator, TokenLevelConfig
from .token_stepping import Candidates, StepInput

if TYPE_CHECKING:  # imported in the methods: registering this aggregator must stay cheap
    import torch

GREEDY_TOP = 16  #: tokens per member scored exactly on a greedy step


class UnionConfig(TokenLevelConfig):
    mode: Literal["average", "mixture"] = Field(
        "average", description="'average': every member runs each step; 'mixture' (sampling only): each step "
        "draws one member by weight and samples from it alone (the same distribution, one forward per token)"
    )

    draws: Literal["row", "shared"] = Field(
        "row", description="mode 'mixture' only. 'row': each row draws its members from its own stream (rows "
        "independent; at batch > 1 most steps need every member); 'shared': rows at the same token position draw "
        "the same member (each row still an exact mixture sample, rows no longer independent of each other; one "
        "forward per step at any batch size)"
    )

    @model_validator(mode="after")
    def _mixture_alone(self) -> UnionConfig:
        if self.mode == "mixture" and (self.primary is not None or self.speculate is not None):
            raise ValueError("mode 'mixture' cannot be combined with gate mode ('primary'/'threshold') or 'speculate'")
        if self.draws != "row" and self.mode != "mixture":
            raise ValueError(f"draws '{self.draws}' is for mode 'mixture' (mode is '{self.mode}')")
        return self


class UnionAggregator(TokenLevelAggregator):
    description = "token-level: weighted average of all members' distributions over a byte-keyed union vocabulary"
    Config = UnionConfig
    config: UnionConfig

    def merge(self, step: StepInput) -> torch.Tensor:
        import torch

        u = step.union
        out = torch.zeros(step.weights.shape[1], len(u))
        for m, d in enumerate(step.dists):
            w = step.weights[m]
            if d is None or not bool((w > 0).any()):
                continue
            out.addcmul_(u.union_probs(m, d.probs), w[:, None])
        return out

    def candidates(self, step: StepInput) -> Candidates | None:
        import torch

        u = step.union
        rows = step.weights.shape[1]
        voting = [(m, d) for m, d in enumerate(step.dists) if d is not None and bool((step.weights[m] > 0).any())]
        if not voting:
            return None
        entries, bound = [], torch.zeros(rows)
        for m, d in voting:
            p, ids = d.topk(GREEDY_TOP + 1)
            ent = u.members[m].token_entry[ids[:, :GREEDY_TOP]]
            entries.append(torch.where(ent >= 0, ent, torch.full_like(ent, len(u))))
            if p.shape[1] > GREEDY_TOP:  # else every token of the member is a candidate
                bound.addcmul_(p[:, GREEDY_TOP], step.weights[m])
        c = torch.cat(entries, dim=1)
        scores = torch.zeros(c.shape)
        for m, d in voting:  # the full merge's order and arithmetic, on the candidates only
            scores.addcmul_(u.entry_probs(m, d, c), step.weights[m][:, None])
        return Candidates(c, scores, bound)
