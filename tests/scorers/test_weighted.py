"""The ``weighted`` scorer: per-group normalisation, weights, nesting and wiring."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from pydantic import ValidationError

from ensemble_cli.core.components import Candidate, ComponentConfig, Member, Scorer
from ensemble_cli.core.types import Example, Segment
from ensemble_cli.hookspecs import hookimpl
from ensemble_cli.plugins import load_registry, use_registry
from ensemble_cli.scorers.weighted import WeightedConfig, WeightedScorer, normalize

A = Example("a", [{"role": "user", "content": "x"}])
B = Example("b", [{"role": "user", "content": "y"}])


class TableConfig(ComponentConfig):
    values: list[float] = []


class TableScorer(Scorer):
    """Returns its configured values, in order (a stand-in with known scores)."""

    Config = TableConfig
    config: TableConfig

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        return list(self.config.values[: len(candidates)])


class Fakes:
    @hookimpl
    def register_scorers(self, register) -> None:  # noqa: ANN001
        register("table", TableScorer)


@pytest.fixture(autouse=True)
def registry():
    import ensemble_cli.builtins as builtins

    with use_registry(load_registry(autoload=False, extra_plugins=[builtins, Fakes()])):
        yield


def cands(*examples):
    return [Candidate(ex, "", f"m{i}", Segment([1], f"t{i}", [-1.0], "stop")) for i, ex in enumerate(examples)]


def weighted(parts, normalize="minmax"):
    return WeightedScorer(WeightedConfig.model_validate({"parts": parts, "normalize": normalize}))


def test_minmax_per_group():
    assert normalize([1.0, 3.0, 2.0, 7.0, 7.0], [[0, 1, 2], [3, 4]], "minmax") == [0.0, 1.0, 0.5, 0.5, 0.5]
    assert normalize([-math.inf, 2.0, 4.0, math.nan], [[0, 1, 2, 3]], "minmax") == [0.0, 0.0, 1.0, 0.0]
    assert normalize([5.0], [[0]], "minmax") == [0.5]


def test_zscore_per_group():
    got = normalize([1.0, 3.0, 10.0, 10.0], [[0, 1], [2, 3]], "zscore")
    assert got == [-1.0, 1.0, 0.0, 0.0]
    got = normalize([1.0, 3.0, -math.inf], [[0, 1, 2]], "zscore")
    assert got == [-1.0, 1.0, -2.0]


def test_none_keeps_raw_scores():
    assert normalize([1.0, -3.5], [[0, 1]], "none") == [1.0, -3.5]


def test_weighted_sum_of_normalised_parts_per_example():
    parts = [
        {"type": "table", "params": {"values": [0.9, 0.1, 0.5, 10.0, 20.0]}, "weight": 1.0},
        {"type": "table", "params": {"values": [-1.0, -3.0, -2.0, -5.0, -9.0]}, "weight": 0.2},
    ]
    got = weighted(parts).score(cands(A, A, A, B, B))
    # part 1 minmax per example: A [1, 0, 0.5], B [0, 1]; part 2: A [1, 0, 0.5], B [1, 0]
    assert got == pytest.approx([1.2, 0.0, 0.6, 0.2, 1.0])
    raw = weighted(parts, "none").score(cands(A, A, A, B, B))
    assert raw == pytest.approx([0.7, -0.5, 0.1, 9.0, 18.2])


def test_a_part_with_a_larger_scale_does_not_drown_the_other_after_minmax():
    parts = [{"type": "table", "params": {"values": [1000.0, 0.0]}, "weight": 1.0},
             {"type": "table", "params": {"values": [0.0, 1.0]}, "weight": 2.0}]
    got = weighted(parts).score(cands(A, A))
    assert got[1] > got[0]


def test_config_validation_reaches_into_parts():
    with pytest.raises(ValidationError) as info:
        WeightedConfig.model_validate({"parts": [{"type": "lgoprob"}, {"type": "table", "params": {"x": 1}}]})
    locs = sorted(e["loc"] for e in info.value.errors())
    assert locs == [("parts", 0, "type"), ("parts", 1, "params", "x")]
    with pytest.raises(ValidationError):
        WeightedConfig.model_validate({"parts": []})
    with pytest.raises(ValidationError):
        WeightedConfig.model_validate({"parts": [{"type": "logprob", "weight": "inf"}]})
    issue = {"parts": [{"type": "prm", "weight": 1.0}, {"type": "logprob", "weight": 0.2}]}  # the issue's example
    assert [(p.type, p.weight) for p in WeightedConfig.model_validate(issue).parts] == [("prm", 1.0), ("logprob", 0.2)]
    cfg = WeightedConfig.model_validate({"parts": ["logprob"]})
    assert cfg.parts[0].type == "logprob" and cfg.parts[0].weight == 1.0


def test_pool_and_members_reach_the_parts():
    s = weighted([{"type": "logprob"}, {"type": "weighted", "params": {"parts": ["logprob"]}}])
    sentinel = object()
    s.pool = sentinel  # type: ignore[assignment]
    members = [Member("m", None)]  # type: ignore[arg-type]
    s.bind(members)
    inner = s.parts[1]
    assert s.parts[0].pool is sentinel and inner.parts[0].pool is sentinel
    assert list(inner.parts[0].members) == members


def test_recipe_validation_names_the_nested_path(tmp_path):
    from ensemble_cli.errors import RecipeError
    from ensemble_cli.recipe import load_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: t\nmodels: [{name: a, params: {model: org/x}}]\naggregator: {type: reward}\n"
        "scorer: {type: weighted, params: {parts: [{type: prm, params: {aggregate: median}}]}}\n"
    )
    with pytest.raises(RecipeError, match=r"scorer\.params\.parts\.0\.params\.aggregate"):
        load_recipe(recipe)
