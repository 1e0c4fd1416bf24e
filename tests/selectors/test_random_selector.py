"""The ``random`` selector: k models per request, seeded by the example id, batch independent."""

from __future__ import annotations

import pytest

from aggregator_checks import EXAMPLES
from ensemble_cli.core.components import Member
from ensemble_cli.core.types import Example
from ensemble_cli.errors import RecipeError
from ensemble_cli.plugins import get_registry
from ensemble_cli.recipe import validate_recipe
from ensemble_cli.selectors.random import RandomSelector, RandomSelectorConfig

MEMBERS = [Member(n, None) for n in ("a", "b", "c", "d")]  # type: ignore[arg-type]
MANY = [Example(f"q{i}", [{"role": "user", "content": "hi"}]) for i in range(40)]


def test_k_models_in_recipe_order_reproducibly():
    sel = RandomSelector(RandomSelectorConfig(k=2, seed=3))
    picks = sel.select(MANY, MEMBERS)
    assert picks == sel.select(MANY, MEMBERS)
    assert all(len(p) == 2 and p == sorted(p) for p in picks)
    assert len({tuple(p) for p in picks}) > 3  # not always the same pair
    assert sel.select(MANY[7:8], MEMBERS)[0] == picks[7]  # batch independent
    assert RandomSelector(RandomSelectorConfig(k=2, seed=4)).select(MANY, MEMBERS) != picks


def test_unseeded_draws_and_small_pools():
    picks = RandomSelector(RandomSelectorConfig(k=1, seed=None)).select(EXAMPLES, MEMBERS)
    assert all(len(p) == 1 for p in picks)
    assert RandomSelector(RandomSelectorConfig(k=3)).select(EXAMPLES[:1], MEMBERS[:2]) == [["a", "b"]]


def test_k_beyond_the_models_is_a_recipe_error():
    data = {"name": "t", "models": [{"name": "m", "params": {"model": "org/x"}}], "aggregator": "loop",
            "selector": {"type": "random", "params": {"k": 2}}}
    with pytest.raises(RecipeError) as err:
        validate_recipe(data, get_registry())
    assert [str(p) for p in err.value.problems] == ["selector.params.k: k=2 but the recipe has only 1 model(s)"]
