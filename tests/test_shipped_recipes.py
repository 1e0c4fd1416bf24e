"""Every recipe shipped in ``recipes/`` is valid, named after its file, and has a one-line description
(what ``ensemble recipes list`` shows). No model is loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from ensemble_cli.plugins import get_registry
from ensemble_cli.recipe import load_recipe

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_shipped_recipe_is_valid_and_described(path: Path, monkeypatch) -> None:
    monkeypatch.chdir(path.parents[1])
    resolved = load_recipe(path, registry=get_registry())
    assert resolved.name == path.stem
    description = resolved.recipe.description
    assert description.strip() and "\n" not in description.strip()


#: the method catalogue of issue 3: each ships at least one runnable recipe
CATALOGUE = {
    ("selector", "all"), ("selector", "random"), ("selector", "zscore"), ("selector", "judgment"),
    ("aggregator", "reward"), ("aggregator", "loop"), ("aggregator", "random"), ("aggregator", "progressive"),
    # issue 5: response-level methods
    ("aggregator", "best-of-n"), ("aggregator", "rank"), ("aggregator", "moa"),
}


def test_one_recipe_per_method(monkeypatch) -> None:
    monkeypatch.chdir(RECIPES[0].parents[1])  # recipes name their files relative to the repository root
    used = {(kind, load_recipe(p).as_dict()[kind]["type"]) for p in RECIPES for kind in ("selector", "aggregator")}
    registered = {(c.kind, c.name) for c in get_registry().components()}
    assert CATALOGUE & registered - used == set()
