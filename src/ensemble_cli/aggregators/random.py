"""The ``random`` aggregator: a randomly drawn member writes each round's segment.

The draw for round ``r`` of example ``id`` is a hash of (``seed``, ``id``, ``r``): reproducible,
independent of batch composition and of other requests, and holding no state. ``seed`` defaults
to the recipe's ``generation.seed``; when both are ``null`` every draw is fresh randomness.
"""

from __future__ import annotations

import random as _random

from pydantic import Field

from ..core.components import EnsembleContext
from ..core.seeding import row_seed
from .one_writer import OneWriterAggregator
from .rounds import RoundsConfig, RowState


class RandomConfig(RoundsConfig):
    seed: int | None = Field(None, description="seed of the writer draws (default: generation.seed)")


class RandomAggregator(OneWriterAggregator):
    description = "a seeded random model writes each segment"
    Config = RandomConfig
    config: RandomConfig

    def writer(self, st: RowState, rnd: int, n_members: int, ctx: EnsembleContext) -> int:
        seed = self.config.seed if self.config.seed is not None else ctx.settings.seed
        if seed is None:
            return _random.SystemRandom().randrange(n_members)
        draw = row_seed(seed, st.example.id, "random-writer", str(rnd))
        assert draw is not None
        return draw % n_members
