"""Unit tests of the ``length-penalty`` scorer: the rule, its config validation and its wiring.

No model is loaded: candidates are hand-made ``Candidate``/``Segment`` objects, and the registry
is built explicitly (built-ins + this plugin + two fake base scorers), so these tests neither need
the plugin to be installed through its entry point nor depend on other installed plugins.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from ensemble_cli.core.components import Candidate, ComponentConfig, Scorer
from ensemble_cli.core.types import Example, Segment
from ensemble_cli.errors import PluginError, RecipeError, RegistryError
from ensemble_cli.hookspecs import hookimpl
from ensemble_cli.plugins import load_registry, use_registry
from ensemble_cli.recipe import load_recipe
from ensemble_cli.scorers.logprob import LogprobScorer
from pydantic import ValidationError

import ensemble_length_penalty
from ensemble_length_penalty.scorer import LengthPenaltyConfig, LengthPenaltyScorer, ScorerSpec, length_bonus

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "length-penalty.yaml"
EXAMPLE = Example("e", [{"role": "user", "content": "hi"}])


class ConstConfig(ComponentConfig):
    value: float = 0.0


class ConstScorer(Scorer):
    """Scores every candidate ``value`` (a base whose scores are not log-probs)."""

    Config = ConstConfig
    config: ConstConfig

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        return [self.config.value] * len(candidates)


class ShortScorer(Scorer):
    """A broken base: one score too few."""

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        return [0.0] * (len(candidates) - 1)


class FakeScorers:
    @hookimpl
    def register_scorers(self, register) -> None:  # noqa: ANN001
        register("const", ConstScorer)
        register("short", ShortScorer)


@pytest.fixture(autouse=True)
def registry() -> Iterator[None]:
    reg = load_registry(autoload=False, extra_plugins=[ensemble_length_penalty, FakeScorers()])
    with use_registry(reg):
        yield


def cand(logprobs: list[float], finish: str = "length", text: str = "x") -> Candidate:
    ids = list(range(len(logprobs)))
    stopped = "eos" if finish == "stop" else None
    return Candidate(EXAMPLE, "", "m", Segment(ids, text, logprobs, finish, stopped))  # type: ignore[arg-type]


def scorer(**params: object) -> LengthPenaltyScorer:
    return LengthPenaltyScorer(LengthPenaltyConfig.model_validate(params))


# -- the rule -----------------------------------------------------------------------------------


def test_length_bonus_is_ln_of_gnmt_lp() -> None:
    for n in (0, 1, 2, 7, 32, 1000):
        for alpha in (0.0, 0.6, 1.0, 2.5):
            lp = ((5 + n) / 6) ** alpha  # Wu et al. (2016)
            assert length_bonus(n, alpha) == pytest.approx(math.log(lp))
    assert length_bonus(1, 0.6) == 0.0
    assert length_bonus(0, 0.6) < 0  # only a "no tokens" candidate is pushed down
    assert all(length_bonus(n, 0.6) < length_bonus(n + 1, 0.6) for n in range(64))
    # diminishing returns: each extra token is worth less than the one before
    steps = [length_bonus(n + 1, 0.6) - length_bonus(n, 0.6) for n in range(64)]
    assert all(a > b for a, b in zip(steps, steps[1:], strict=False))


def test_adds_bonus_to_mean_logprob() -> None:
    cands = [cand([-0.5]), cand([-1.0, -0.2, -0.3]), cand([-0.1] * 8, "stop")]
    got = scorer(alpha=0.6).score(cands)
    means = [-0.5, -0.5, -0.1]
    lens = [1, 3, 8]
    assert got == pytest.approx([m + 0.6 * math.log((5 + n) / 6) for m, n in zip(means, lens, strict=True)])


def test_alpha_zero_is_the_base_scorer() -> None:
    cands = [cand([-0.5]), cand([-1.0, -0.2, -0.3]), cand([], "length"), cand([-0.05], "stop")]
    assert scorer(alpha=0.0).score(cands) == LogprobScorer().score(cands)


def test_counteracts_short_eos_candidates_where_gnmt_would_not() -> None:
    """The module docstring's worked example: immediate EOS (-0.3) vs an 8-token segment (mean -0.2)."""
    eos, segment = cand([-0.3], "stop", text=""), cand([-0.2] * 8)
    plain = LogprobScorer().score([eos, segment])
    ours = scorer(alpha=0.6).score([eos, segment])
    assert plain[1] > plain[0]
    assert ours == pytest.approx([-0.3, -0.2 + 0.6 * math.log(13 / 6)])
    assert ours[1] - ours[0] > plain[1] - plain[0]  # the segment wins by a wider margin
    gnmt = [c.segment.mean_logprob * len(c.segment.token_ids) / ((5 + len(c.segment.token_ids)) / 6) ** 0.6
            for c in (eos, segment)]
    assert gnmt[0] > gnmt[1]  # GNMT's division of the summed log-prob would pick the EOS


def test_a_longer_candidate_needs_less_per_token_confidence() -> None:
    short, long = cand([-0.40] * 2), cand([-0.55] * 24)
    assert LogprobScorer().score([short, long])[0] > LogprobScorer().score([short, long])[1]
    got = scorer(alpha=0.6).score([short, long])
    assert got[1] > got[0]


def test_non_logprob_base_gets_the_same_additive_bonus() -> None:
    const = scorer(base={"type": "const", "params": {"value": 3.0}}, alpha=1.0)
    got = const.score([cand([-9.0]), cand([-9.0] * 7)])
    assert got == pytest.approx([3.0, 3.0 + math.log(2.0)])


def test_non_finite_base_scores_stay_non_finite() -> None:
    got = scorer().score([cand([]), cand([-0.2, -0.2])])
    assert got[0] == float("-inf")
    assert math.isfinite(got[1])


def test_empty_round() -> None:
    assert scorer().score([]) == []


# -- config and wiring --------------------------------------------------------------------------


def test_defaults_wrap_logprob() -> None:
    s = LengthPenaltyScorer()
    assert isinstance(s.base, LogprobScorer)
    assert s.config.alpha == 0.6
    assert s.config.model_dump(mode="json") == {"base": {"type": "logprob", "params": {}}, "alpha": 0.6}


def test_base_shorthand_and_null_params() -> None:
    assert LengthPenaltyConfig.model_validate({"base": "logprob"}).base == ScorerSpec(type="logprob")
    assert LengthPenaltyConfig.model_validate({"base": {"type": "const", "params": None}}).base.params == {}


def test_nested_length_penalty_adds_both_bonuses() -> None:
    const = {"type": "const", "params": {"value": 1.0}}
    inner = {"type": "length-penalty", "params": {"base": const, "alpha": 1.0}}
    got = scorer(base=inner, alpha=0.5).score([cand([0.0] * 7)])
    assert got == pytest.approx([1.0 + 1.5 * math.log(2.0)])


def errors(params: dict) -> list[tuple[tuple, str]]:
    with pytest.raises(ValidationError) as info:
        LengthPenaltyConfig.model_validate(params)
    return [(e["loc"], e["type"]) for e in info.value.errors()]


def test_negative_or_infinite_alpha_is_rejected() -> None:
    assert errors({"alpha": -1}) == [(("alpha",), "greater_than_equal")]
    assert errors({"alpha": "inf"}) == [(("alpha",), "finite_number")]


def test_unknown_base_type_is_a_validation_error_with_its_path() -> None:
    with pytest.raises(ValidationError) as info:
        LengthPenaltyConfig.model_validate({"base": {"type": "lgoprob"}})
    (err,) = info.value.errors()
    assert err["loc"] == ("base", "type")
    assert "unknown scorer 'lgoprob'" in err["msg"] and "did you mean 'logprob'" in err["msg"]


def test_base_params_are_validated_against_the_base_config() -> None:
    found = errors({"base": {"type": "const", "params": {"value": "high", "vlaue": 1}}})
    assert sorted(found) == [
        (("base", "params", "value"), "float_parsing"),
        (("base", "params", "vlaue"), "extra_forbidden"),
    ]
    nested = {"base": {"type": "length-penalty", "params": {"alpha": -2, "base": {"type": "nope"}}}}
    assert sorted(errors(nested)) == [
        (("base", "params", "alpha"), "greater_than_equal"),
        (("base", "params", "base", "type"), "unknown_scorer"),
    ]


def test_unknown_fields_are_rejected() -> None:
    assert errors({"aplha": 1}) == [(("aplha",), "extra_forbidden")]
    assert errors({"base": {"type": "logprob", "parms": {}}}) == [(("base", "parms"), "extra_forbidden")]


def test_building_an_unvalidated_spec_raises_ensemble_errors() -> None:
    with pytest.raises(RegistryError, match="did you mean 'logprob'"):
        ScorerSpec.model_construct(type="lgoprob", params={}).build()
    with pytest.raises(RecipeError, match="params.value"):
        ScorerSpec.model_construct(type="const", params={"value": "high"}).build()


def test_broken_base_is_reported() -> None:
    with pytest.raises(PluginError, match="'short' returned 1 scores for 2 candidates"):
        scorer(base="short").score([cand([-1.0]), cand([-1.0])])


def test_pool_is_handed_to_the_base() -> None:
    s = scorer(base={"type": "length-penalty"})
    sentinel = object()
    s.pool = sentinel  # type: ignore[assignment]  # what the pipeline does after building
    assert s.base.pool is sentinel and s.base.base.pool is sentinel and s.pool is sentinel


def test_registered_by_the_hook() -> None:
    reg = load_registry(autoload=False, extra_plugins=[ensemble_length_penalty])
    found = reg.lookup("scorer", "length-penalty")
    assert found.cls is LengthPenaltyScorer
    assert found.plugin == "ensemble_length_penalty"
    assert reg.plugin("ensemble_length_penalty").version == ensemble_length_penalty.__version__


def test_example_recipe_validates() -> None:
    resolved = load_recipe(RECIPE)
    assert resolved.scorer is not None and resolved.scorer.cls is LengthPenaltyScorer
    assert resolved.as_dict()["scorer"] == {
        "type": "length-penalty",
        "params": {"base": {"type": "logprob", "params": {}}, "alpha": 0.6},
    }


def test_members_are_handed_to_the_base() -> None:
    """A base scoring under a member (``logprob`` with ``under``) gets the recipe's members too."""
    from ensemble_cli.core.components import Member

    inner = {"type": "logprob", "params": {"under": "m"}}
    s = scorer(base={"type": "length-penalty", "params": {"base": inner}})
    members = [Member("m", None)]  # type: ignore[arg-type]
    s.bind(members)
    assert list(s.base.base.members) == members and list(s.members) == members
