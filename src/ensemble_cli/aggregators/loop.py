"""The ``loop`` aggregator: round-robin; member ``i`` writes round ``i`` (then ``n``, ``n+1``...).

The order is the selected members' order (recipe order). Every request starts again at the first
member: the position is the round number of that request, never a counter kept on the component
(the seed's class-level counter leaked across requests).
"""

from __future__ import annotations

from ..core.components import EnsembleContext
from .one_writer import OneWriterAggregator
from .rounds import RowState


class LoopAggregator(OneWriterAggregator):
    description = "round-robin: the models take turns writing one segment each"

    def writer(self, st: RowState, rnd: int, n_members: int, ctx: EnsembleContext) -> int:
        return rnd % n_members
