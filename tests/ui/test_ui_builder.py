"""The recipe builder's pure functions: the registry as schemas, form ↔ YAML, problems by YAML path
(the same as ``ensemble recipes validate`` reports)."""

from __future__ import annotations

from pathlib import Path

import yaml

from ensemble_cli.errors import RecipeError
from ensemble_cli.plugins import get_registry
from ensemble_cli.recipe import load_recipe
from ensemble_cli.ui.builder import (
    check_recipe,
    check_yaml,
    component_schemas,
    form_to_recipe,
    recipe_yaml,
    yaml_to_form,
)


def test_schemas_list_every_registered_component_with_its_config() -> None:
    registry = get_registry()
    schemas = component_schemas(registry)
    for kind in ("generator", "selector", "aggregator", "scorer"):
        assert [c["name"] for c in schemas[kind]] == [c.name for c in registry.components(kind)]
    reward = next(c for c in schemas["aggregator"] if c["name"] == "reward")
    props = reward["schema"]["properties"]
    assert "segment_tokens" in props and props["segment_tokens"].get("default") is not None
    assert schemas["generation"][0]["schema"]["properties"]["max_tokens"]["exclusiveMinimum"] == 0


def test_form_round_trips_through_yaml(duo_recipe: Path) -> None:
    text = duo_recipe.read_text()
    form = yaml_to_form(text)
    assert form["selector"] == {"type": "all", "params": {}} and form["scorer"] == {"type": "logprob", "params": {}}
    form["aggregator"]["params"]["max_rounds"] = ""  # a field the user cleared: the default again
    data = form_to_recipe(form)
    assert data["aggregator"] == {"type": "reward", "params": {"segment_tokens": 3}}
    assert list(data) == ["name", "models", "selector", "aggregator", "scorer", "generation"]
    again = yaml_to_form(recipe_yaml(data))
    assert form_to_recipe(again) == data
    result = check_recipe(data, get_registry())
    assert result["ok"], result["problems"]
    saved = duo_recipe.parent / "builder-check.yaml"
    saved.write_text(result["yaml"])  # the downloaded YAML is the recipe the builder validated
    assert result["hash"] == load_recipe(saved).hash
    assert load_recipe(saved).aggregator.config.max_rounds == 16  # the Config's default, not the cleared 8


def test_problems_are_those_of_recipes_validate_keyed_by_path(duo_recipe: Path, tmp_path: Path) -> None:
    form = yaml_to_form(duo_recipe.read_text())
    form["models"][0]["name"] = "bad name!"
    form["aggregator"]["params"]["segment_tokens"] = -3
    form["aggregator"]["params"]["max_roundz"] = 4
    result = check_recipe(form_to_recipe(form), get_registry())
    paths = {p["path"] for p in result["problems"]}
    assert {"models.0.name", "aggregator.params.segment_tokens", "aggregator.params.max_roundz"} <= paths
    assert not result["ok"]
    file = tmp_path / "bad.yaml"
    file.write_text(result["yaml"])
    try:
        load_recipe(file)
    except RecipeError as err:
        assert {(p.path, p.message) for p in err.problems} == {(p["path"], p["message"]) for p in result["problems"]}
    else:
        raise AssertionError("the CLI's validator accepted what the builder refused")


def test_yaml_typed_into_the_preview_is_checked_and_loads_back_as_a_form(duo_recipe: Path) -> None:
    broken = check_yaml("name: x\nmodels: [\n", get_registry())
    assert not broken["ok"] and broken["problems"][0]["message"].startswith("YAML error at line")
    typo = duo_recipe.read_text().replace("type: reward", "type: rewrd")
    result = check_yaml(typo, get_registry())
    [problem] = [p for p in result["problems"] if p["path"] == "aggregator.type"]
    assert "did you mean 'reward'" in problem["message"]
    assert result["form"]["aggregator"]["type"] == "rewrd"
    assert yaml.safe_load(result["yaml"])["aggregator"]["type"] == "rewrd"
