"""The ``random`` selector: ``k`` models per request, drawn at random, reproducibly.

The draw for an example is seeded by a hash of (``seed``, example id): the same request always
gets the same models, whatever else is in its batch. ``seed: null`` draws fresh randomness for
every request. The chosen names keep recipe order. ``k`` larger than the recipe's models is a
recipe error; at run time (fewer members offered) every member is kept.
"""

from __future__ import annotations

import random as _random
from collections.abc import Sequence

from pydantic import Field

from ..core.components import ComponentConfig, Member, Selector
from ..core.seeding import row_seed
from ..core.types import Example
from ..errors import Problem


class RandomSelectorConfig(ComponentConfig):
    k: int = Field(1, gt=0, description="models per request")
    seed: int | None = Field(1234, description="seed of the draws (null: fresh randomness per request)")


class RandomSelector(Selector):
    description = "k models per request, drawn at random with a seed"
    Config = RandomSelectorConfig
    config: RandomSelectorConfig

    @classmethod
    def recipe_problems(cls, config: ComponentConfig, models: Sequence[str]) -> list[Problem]:
        assert isinstance(config, RandomSelectorConfig)
        if config.k > len(models):
            return [Problem("k", f"k={config.k} but the recipe has only {len(models)} model(s)")]
        return []

    def select(self, examples: Sequence[Example], members: Sequence[Member]) -> list[list[str]]:
        names = [m.name for m in members]
        k = min(self.config.k, len(names))
        out = []
        for ex in examples:
            seed = row_seed(self.config.seed, ex.id, "random-selector")
            rng = _random.Random(seed) if seed is not None else _random.SystemRandom()
            chosen = set(rng.sample(range(len(names)), k))
            out.append([n for i, n in enumerate(names) if i in chosen])
        return out
