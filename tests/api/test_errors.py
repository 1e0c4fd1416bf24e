"""Bad input from Python is a typed error naming the culprit, never a traceback from deep inside."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import fixture_plugins
from ensemble_cli import Ensemble, Example, RecipeError, UsageError
from ensemble_cli.plugins import load_registry, use_registry

RECIPE = {"name": "echo", "models": [{"name": "a", "generator": "echo-gen"}], "selector": "echo-all",
          "aggregator": "echo"}


@pytest.fixture(autouse=True)
def fixture_registry() -> Iterator[None]:
    with use_registry(load_registry(autoload=False, extra_plugins=[fixture_plugins], builtins=False)):
        yield


@pytest.fixture
def ens() -> Iterator[Ensemble]:
    with Ensemble.from_recipe(RECIPE) as ensemble:
        yield ensemble


def test_a_bad_recipe_dict_lists_every_problem_with_its_path() -> None:
    bad = {**RECIPE, "aggregator": "ecko", "generation": {"max_tokns": 3}}
    with pytest.raises(RecipeError) as info:
        Ensemble.from_recipe(bad)
    paths = [p.path for p in info.value.problems]
    assert paths == ["aggregator.type", "generation.max_tokns"]
    assert "did you mean 'echo'" in str(info.value) and "did you mean max_tokens" in str(info.value)


@pytest.mark.parametrize("overrides", [["generation.max_tokkens=3"], {"generation.max_tokkens": 3},
                                       "generation.max_tokkens=3"])
def test_an_unknown_override_key_is_named(overrides: object) -> None:
    with pytest.raises(RecipeError, match=r"generation\.max_tokkens: unknown field \(did you mean max_tokens\?\)"):
        Ensemble.from_recipe(RECIPE, overrides)  # type: ignore[arg-type]


def test_overrides_apply_as_on_the_command_line() -> None:
    as_strings = Ensemble.from_recipe(RECIPE, ["generation.max_tokens=5", "generation.stop=[\"\\n\"]"])
    as_dict = Ensemble.from_recipe(RECIPE, {"generation.max_tokens": 5, "generation.stop": ["\n"]})
    assert as_strings.recipe_hash == as_dict.recipe_hash != Ensemble.from_recipe(RECIPE).recipe_hash
    assert as_dict.resolved.generation.max_tokens == 5


def test_a_missing_recipe_file_and_a_wrong_recipe_type() -> None:
    with pytest.raises(UsageError, match="recipe file not found: nope.yaml"):
        Ensemble.from_recipe("nope.yaml")
    with pytest.raises(UsageError, match="recipe must be a path, a dict, a Recipe or a ResolvedRecipe, got int"):
        Ensemble.from_recipe(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("x", "message"),
    [
        ("", "x: the prompt is empty"),
        ("   ", "x: the prompt is empty"),
        (3, "x must be a prompt string, .* got int"),
        (None, "x must be .* got NoneType"),
        ([], "x is an empty list"),
        (["fine", ""], r"x\[1\]: the prompt is empty"),
        (["fine", 4.5], r"x\[1\] must be a prompt string, .* got float"),
        ([{"prompt": "ok"}, {"question": ""}], r"x\[1\]: field 'question' is empty"),
        ([{"text": "hi"}], r"x\[0\]: no prompt field: tried 'messages', 'prompt'"),
        ([{"role": "usr", "content": "hi"}], r"x: messages\[0\]\.role must be one of"),
        ([{"role": "user", "content": 5}], r"x: messages\[0\]\.content must be a string"),
        (Example("e", []), "x: the Example has no messages"),
    ],
)
def test_bad_x_is_a_usage_error_naming_the_item(ens: Ensemble, x: object, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        ens.generate(x)


@pytest.mark.parametrize(
    ("sampling", "message"),
    [
        ({"max_tokkens": 3}, r"max_tokkens: unknown field \(did you mean max_tokens\?\)"),
        ({"max_tokens": 0}, r"max_tokens: input should be greater than 0 \(got 0\)"),
        ({"temperature": "hot"}, r"temperature: input should be a valid number"),
    ],
)
def test_bad_sampling_arguments_are_named(ens: Ensemble, sampling: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        ens.generate("hi", **sampling)


def test_every_accepted_shape_gives_the_same_answer(ens: Ensemble) -> None:
    messages = [{"role": "user", "content": "hi there"}]
    shapes = ["hi there", messages, {"prompt": "hi there"}, {"messages": messages}, Example("0", messages)]
    assert [ens.generate(x).text for x in shapes] == ["HI THERE"] * 5
    assert [c.id for c in ens.generate([{"id": "q1", "question": "a", "answer": "A"}, "b"])] == ["q1", "1"]
    assert ens.generate([{"id": "q1", "question": "a", "answer": "A"}])[0].to_record()["label"] == "A"
