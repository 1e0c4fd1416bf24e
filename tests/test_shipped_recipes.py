"""Every recipe shipped in ``recipes/`` (and its folders: ``recipes/quality/``) is valid, named after its
file, and has a one-line description (what ``ensemble recipes list`` shows). No model is loaded, so
recipes that need the large-model extra are checked here too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ensemble_cli.plugins import get_registry
from ensemble_cli.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").rglob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=[str(p.relative_to(ROOT / "recipes").with_suffix("")) for p in RECIPES])
def test_shipped_recipe_is_valid_and_described(path: Path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
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
    ("aggregator", "cascade"),  # issue 18
}


def test_one_recipe_per_method(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)  # recipes name their files relative to the repository root
    used = {(kind, load_recipe(p).as_dict()[kind]["type"]) for p in RECIPES for kind in ("selector", "aggregator")}
    registered = {(c.kind, c.name) for c in get_registry().components()}
    assert CATALOGUE & registered - used == set()


def test_quality_recipes_share_members_and_generation_and_need_the_large_models(monkeypatch) -> None:
    """``bench --baselines`` reuses a member run only when its model params and generation settings are
    the same; and CI without the large-model extra must skip these recipes, not fail them."""
    monkeypatch.chdir(ROOT)
    quality = [load_recipe(p) for p in RECIPES if p.parent.name == "quality"]
    assert len(quality) >= 7
    members: dict[str, dict] = {}
    for resolved in quality:
        assert resolved.recipe.requires == ["large-models"], resolved.name
        assert resolved.as_dict()["generation"] == quality[0].as_dict()["generation"], resolved.name
        for m in resolved.as_dict()["models"]:
            assert members.setdefault(m["name"], m) == m, (resolved.name, m["name"])
    assert set(members) == {"coder-1.5b", "coder-0.5b"}


def test_readme_example_record_carries_the_quickstart_hash(monkeypatch) -> None:
    """The README's "real record" of the quickstart run shows the hash that run writes today."""
    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)
    shown = re.findall(r'"recipe_hash": "([0-9a-f]{16})"', (root / "README.md").read_text(encoding="utf-8"))
    actual = load_recipe(root / "recipes" / "quickstart.yaml", registry=get_registry()).hash
    assert shown == [actual], (
        f"README's example record shows recipe_hash {shown}, the quickstart recipe resolves to {actual}: "
        "rerun the quickstart and paste the new record (or at least the hash) into the README"
    )
