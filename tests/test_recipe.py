from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from dummy_plugins import ALL_COMPONENTS, DummyGenerator, DummyScorer, RewardLike, dummy_registry
from ensemble_cli.core.types import GenerationSettings
from ensemble_cli.errors import Problem, RecipeError, UsageError
from ensemble_cli.recipe import (
    ComponentSpec,
    GenerationSpec,
    apply_overrides,
    load_recipe,
    load_recipe_data,
    validate_recipe,
)
from ensemble_cli.registry import Registry

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return dummy_registry()


def good() -> dict[str, Any]:
    return {
        "name": "quick",
        "models": [
            {"name": "smol", "generator": "dummy", "params": {"model": "smollm2-135m-instruct"}},
            {"name": "gemma", "generator": "dummy", "params": {"model": "/no/such/dir", "dtype": "bfloat16"}},
        ],
        "aggregator": {"type": "reward", "params": {"segment_tokens": 16}},
        "scorer": {"type": "dummy-scorer"},
        "generation": {"max_tokens": 64, "stop": "\n\n"},
    }


def problems(data: dict[str, Any], registry: Registry) -> list[str]:
    with pytest.raises(RecipeError) as info:
        validate_recipe(data, registry, source="r.yaml")
    assert info.value.source == "r.yaml"
    assert info.value.exit_code == 2
    return [str(p) for p in info.value.problems]


# -- validation ---------------------------------------------------------------------------------


def test_valid_recipe_resolves_without_building_anything(registry: Registry) -> None:
    before = {cls: cls.instances for cls in ALL_COMPONENTS}
    resolved = validate_recipe(good(), registry, source="r.yaml")
    assert {cls: cls.instances for cls in ALL_COMPONENTS} == before  # nothing instantiated, nothing loaded

    assert [(m.name, m.type, m.cls) for m in resolved.models] == [
        ("smol", "dummy", DummyGenerator),
        ("gemma", "dummy", DummyGenerator),
    ]
    assert resolved.models[1].config.model == "/no/such/dir"  # a path is not checked for existence
    assert resolved.selector.type == "all"  # the default selector
    assert resolved.aggregator.cls is RewardLike
    assert resolved.aggregator.config.segment_tokens == 16
    assert resolved.aggregator.config.max_rounds == 16  # default from the Config
    assert resolved.scorer is not None and resolved.scorer.cls is DummyScorer
    assert resolved.generation == GenerationSettings(max_tokens=64, stop=["\n\n"])
    assert resolved.source == "r.yaml"
    assert resolved.name == "quick"

    aggregator = resolved.build(resolved.aggregator)
    assert isinstance(aggregator, RewardLike) and aggregator.config.segment_tokens == 16
    assert isinstance(resolved.models[0].build(), DummyGenerator)


def test_as_dict_fills_defaults_and_is_json(registry: Registry) -> None:
    resolved = validate_recipe(good(), registry)
    data = resolved.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["aggregator"] == {"type": "reward", "params": {"segment_tokens": 16, "max_rounds": 16}}
    assert data["models"][0] == {
        "name": "smol",
        "generator": "dummy",
        "params": {"model": "smollm2-135m-instruct", "dtype": "float32"},
    }
    assert data["selector"] == {"type": "all", "params": {}}
    assert data["scorer"] == {"type": "dummy-scorer", "params": {"normalize": True}}
    assert data["generation"] == {
        "max_tokens": 64,
        "temperature": 0.0,
        "top_p": 1.0,
        "seed": 1234,
        "stop": ["\n\n"],
        "ignore_eos": False,
    }


def test_all_problems_reported_at_once_with_yaml_paths(registry: Registry) -> None:
    data = {
        "name": "bad",
        "models": [
            {"name": "smol", "generator": "dumy", "params": {"model": "x"}},
            {"name": "smol", "generator": "dummy", "params": {"modle": "x", "dtype": "int4"}},
        ],
        "selector": {"type": "all", "params": {"k": 2}},
        "aggregator": {"type": "reward", "params": {"segment_tokns": 32, "max_rounds": "many"}},
        "generation": {"max_tokens": 0, "top_p": 1.5, "temprature": 1.0},
    }
    assert problems(data, registry) == [
        "models.0.generator: unknown generator 'dumy' — did you mean 'dummy'? Available: dummy",
        "models.1.name: duplicate model name 'smol' (also models.0.name)",
        "models.1.params.dtype: input should be 'float32' or 'bfloat16' (got 'int4')",
        "models.1.params.model: required",
        "models.1.params.modle: unknown field (did you mean model?)",
        "selector.params.k: unknown field",
        "aggregator.params.max_rounds: input should be a valid integer, "
        "unable to parse string as an integer (got 'many')",
        "aggregator.params.segment_tokns: unknown field (did you mean segment_tokens?)",
        "scorer: required by aggregator 'reward'",
        "generation.max_tokens: input should be greater than 0 (got 0)",
        "generation.temprature: unknown field (did you mean temperature?)",
        "generation.top_p: input should be less than or equal to 1 (got 1.5)",
    ]


def test_non_ascii_digits_in_keys_are_names_not_indices(registry: Registry) -> None:
    # "¹".isdigit() is True but int("¹") fails: a fuzzed server override made the sort a 500
    data = good()
    data["aggregator"] = {"¹": None, "2": None}
    found = problems(data, registry)
    assert found and all(p.startswith("aggregator") for p in found)
    with pytest.raises(UsageError, match="is a list, use an index"):
        apply_overrides(good(), ["models.¹.name=x"])


def test_unknown_component_types_suggest(registry: Registry) -> None:
    data = good()
    data["aggregator"]["type"] = "rewrd"
    data["scorer"] = {"type": "dummy-scorr"}
    data["selector"] = "everyone"
    assert problems(data, registry) == [
        "selector.type: unknown selector 'everyone'. Available: all",
        "aggregator.type: unknown aggregator 'rewrd' — did you mean 'reward'? Available: loop, reward",
        "scorer.type: unknown scorer 'dummy-scorr' — did you mean 'dummy-scorer'? Available: dummy-scorer",
    ]


def test_shape_problems(registry: Registry) -> None:
    data = {"nme": "x", "models": [], "agregator": {"type": "loop"}, "scorer": {"params": {}}}
    assert problems(data, registry) == [
        "name: required",
        "models: list should have at least 1 item after validation, not 0",
        "aggregator: required",
        "scorer.type: required",
        "nme: unknown field (did you mean name?)",  # unknown top-level fields last, in file order
        "agregator: unknown field (did you mean aggregator?)",
    ]


def test_wrong_types_inside_components(registry: Registry) -> None:
    data = good()
    data["models"][0]["params"] = ["not", "a", "mapping"]
    data["models"][1] = "gemma"
    data["aggregator"] = {"type": 3}
    assert problems(data, registry) == [
        "models.0.params: input should be a valid dictionary",
        "models.1: input should be a valid dictionary or instance of ModelSpec (got 'gemma')",
        "aggregator.type: input should be a valid string (got 3)",
    ]


def test_scorer_required_only_by_aggregators_that_need_it(registry: Registry) -> None:
    data = good()
    data.pop("scorer")
    assert problems(data, registry) == ["scorer: required by aggregator 'reward'"]
    data["scorer"] = None
    assert problems(data, registry) == ["scorer: required by aggregator 'reward'"]
    data["aggregator"] = {"type": "loop"}
    assert validate_recipe(data, registry).scorer is None


def test_shorthands_and_empty_params(registry: Registry) -> None:
    data = good()
    data["selector"] = "all"
    data["scorer"] = "dummy-scorer"
    data["aggregator"]["params"] = None  # `params:` with nothing after it
    resolved = validate_recipe(data, registry)
    assert resolved.selector.type == "all"
    assert resolved.scorer is not None and resolved.scorer.type == "dummy-scorer"
    assert resolved.aggregator.config.segment_tokens == 32


def test_non_mapping_recipe(registry: Registry) -> None:
    with pytest.raises(RecipeError, match="a recipe must be a mapping, not a list"):
        validate_recipe(["x"], registry)  # type: ignore[arg-type]


def test_generation_spec_accepts_single_stop() -> None:
    assert GenerationSpec(stop="###").stop == ["###"]
    assert ComponentSpec.model_validate("all") == ComponentSpec(type="all")


# -- hash ---------------------------------------------------------------------------------------


def test_hash_is_stable_and_tracks_params(registry: Registry) -> None:
    first = validate_recipe(good(), registry).hash
    assert len(first) == 16 and int(first, 16) >= 0
    assert validate_recipe(good(), registry).hash == first

    reordered = dict(reversed(list(good().items())))
    assert validate_recipe(reordered, registry).hash == first

    explicit = good()
    explicit["aggregator"]["params"]["max_rounds"] = 16  # the default, spelled out
    assert validate_recipe(explicit, registry).hash == first

    changed = good()
    changed["aggregator"]["params"]["max_rounds"] = 8
    assert validate_recipe(changed, registry).hash != first


# -- overrides ----------------------------------------------------------------------------------


def test_overrides_nested_lists_and_yaml_values() -> None:
    data = good()
    original = copy.deepcopy(data)
    result = apply_overrides(
        data,
        [
            "aggregator.params.max_rounds=8",
            'generation.stop=["\\n", "###"]',
            "models.0.params.dtype=bfloat16",
            "generation.temperature=0.7",
            "generation.seed=null",
            "selector.type=all",
            "description=",
        ],
    )
    assert data == original  # the input is not modified
    assert result["aggregator"]["params"] == {"segment_tokens": 16, "max_rounds": 8}
    assert result["generation"]["stop"] == ["\n", "###"]
    assert result["models"][0]["params"]["dtype"] == "bfloat16"
    assert result["generation"]["temperature"] == 0.7
    assert result["generation"]["seed"] is None
    assert result["selector"] == {"type": "all"}
    assert result["description"] == ""


def test_overrides_append_a_list_item_and_replace_a_mapping() -> None:
    result = apply_overrides(good(), ["models.2.name=third", "scorer={type: other}"])
    assert result["models"][2] == {"name": "third"}
    assert result["scorer"] == {"type": "other"}


def test_overrides_reach_keys_with_dots_in_them() -> None:
    data = good()
    data["aggregator"]["params"]["weights"] = {"coder-1.5b": 0.6, "coder-0.5b": 0.4}
    result = apply_overrides(data, ["aggregator.params.weights.coder-1.5b=0.8",
                                    "aggregator.params.weights.coder-0.5b=0.2"])
    assert result["aggregator"]["params"]["weights"] == {"coder-1.5b": 0.8, "coder-0.5b": 0.2}
    # a key that does not exist yet still splits at every dot
    assert apply_overrides(data, ["aggregator.params.weights.new.x=1"])["aggregator"]["params"]["weights"][
        "new"] == {"x": 1}
    # the Python API's mapping form too
    assert apply_overrides(data, {"aggregator.params.weights.coder-0.5b": 0.3})["aggregator"]["params"][
        "weights"]["coder-0.5b"] == 0.3


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("aggregator.params.max_rounds", "expected --set path.to.key=value"),
        ("=3", "expected --set path.to.key=value"),
        ("a..b=3", "expected --set path.to.key=value"),
        ("models.x.name=y", "models is a list, use an index"),
        ("models.5.name=y", "models has 2 item(s), no index 5"),
        ("name.first=y", "name is a str, not a mapping or list"),
        ("generation.stop=[unclosed", "value is not valid YAML"),
    ],
)
def test_malformed_overrides(override: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        apply_overrides(good(), [override])
    assert f"invalid override {override!r}" in str(info.value)
    assert message in str(info.value)
    assert info.value.exit_code == 2


def test_overridden_values_are_validated(registry: Registry) -> None:
    data = apply_overrides(good(), ["aggregator.params.segment_tokns=8"])
    assert problems(data, registry) == [
        "aggregator.params.segment_tokns: unknown field (did you mean segment_tokens?)"
    ]


# -- files --------------------------------------------------------------------------------------


RECIPE_YAML = """\
name: quick
models:
  - name: smol
    generator: dummy
    params: {model: smollm2-135m-instruct}
aggregator:
  type: reward
  params: {segment_tokens: 32}
scorer: {type: dummy-scorer}
generation: {max_tokens: 32, stop: ["\\nUser:"]}
"""


def test_load_recipe_file_with_overrides(tmp_path: Path, registry: Registry) -> None:
    path = tmp_path / "quick.yaml"
    path.write_text(RECIPE_YAML)
    resolved = load_recipe(path, ["aggregator.params.max_rounds=4"], registry=registry)
    assert resolved.aggregator.config.max_rounds == 4
    assert resolved.generation.stop == ["\nUser:"]
    assert resolved.source == str(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="recipe file not found: .*nope.yaml"):
        load_recipe_data(tmp_path / "nope.yaml")


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nmodels:\n  - name: [unclosed\naggregator: loop\n")
    with pytest.raises(RecipeError) as info:
        load_recipe_data(path)
    assert info.value.source == str(path)
    (problem,) = info.value.problems
    assert problem.message.startswith("YAML error at line 4")
    assert str(path) in str(info.value)


def test_duplicate_yaml_keys_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("name: x\naggregator:\n  type: loop\n  type: reward\n")
    with pytest.raises(RecipeError) as info:
        load_recipe_data(path)
    assert info.value.problems == [Problem("", "YAML error at line 4, column 3: duplicate key 'type'")]


@pytest.mark.parametrize(("text", "message"), [("", "the file is empty"), ("- a\n- b\n", "not a list")])
def test_empty_or_non_mapping_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError, match=message):
        load_recipe_data(path)


@pytest.mark.parametrize("path", sorted((REPO / "recipes").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_validate_with_the_builtins(path: Path) -> None:
    """Every recipe in recipes/ validates against the real built-ins (classes only, no weights)."""
    from ensemble_cli.plugins import load_registry

    resolved = load_recipe(path, registry=load_registry(autoload=False))
    assert resolved.name
