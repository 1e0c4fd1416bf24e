"""The ``progressive`` aggregator: switches exactly at length thresholds and at switch strings."""

from __future__ import annotations

import pytest

from aggregator_checks import EXAMPLES, assert_consistent
from ensemble_cli.aggregators.loop import LoopAggregator
from ensemble_cli.aggregators.progressive import ProgressiveAggregator, ProgressiveConfig
from ensemble_cli.aggregators.rounds import RoundsConfig
from ensemble_cli.core.components import EnsembleContext, Member
from ensemble_cli.core.types import GenerationSettings
from ensemble_cli.errors import RecipeError
from ensemble_cli.plugins import get_registry
from ensemble_cli.recipe import validate_recipe

LONG = GenerationSettings(max_tokens=40, ignore_eos=True)
#: the tiny greedy Llama writes only newlines; seeded sampling gives text to pick switch strings from
HOT = GenerationSettings(max_tokens=40, ignore_eos=True, temperature=1.0, seed=3)


def run(members, examples=EXAMPLES, settings=LONG, **cfg):
    agg = ProgressiveAggregator(ProgressiveConfig(**cfg))
    return agg.run(examples, EnsembleContext(members, None, settings))


def tokens_by_model(result) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in result.attribution:
        out[a.model] = out.get(a.model, 0) + a.tokens
    return out


def writer_order(result) -> list[str]:
    return list(dict.fromkeys(a.model for a in result.attribution))


def test_length_bands_switch_exactly_at_the_thresholds(tiny_members):
    third = Member("llama-2", tiny_members[0].generator)
    members = [*tiny_members, third]
    results = run(members, segment_tokens=4, max_rounds=40, mode="length", length_thresholds=[5, 12])
    assert_consistent(results, 40)
    for r in results:
        assert writer_order(r) == ["llama", "gemma", "llama-2"]
        assert tokens_by_model(r) == {"llama": 5, "gemma": 7, "llama-2": 28}
        # each writer's pieces are contiguous: once switched, never back
        models = [a.model for a in r.attribution]
        assert models == sorted(models, key=["llama", "gemma", "llama-2"].index)


def test_fewer_members_than_bands_keeps_the_last_one_writing(tiny_members):
    r = run(tiny_members[:1], examples=EXAMPLES[:1], segment_tokens=4, mode="length", length_thresholds=[5])[0]
    assert writer_order(r) == ["llama"] and r.usage.completion_tokens == 40


def solo_text(member, segment_tokens=4, max_tokens=40):
    """What ``member`` writes alone (seeded sampling), in segments: the text a switch string is cut from.
    With the same seed, the member samples the same tokens inside ``progressive`` up to the switch."""
    agg = LoopAggregator(RoundsConfig(segment_tokens=segment_tokens, max_rounds=40))
    return agg.run(EXAMPLES[:1], EnsembleContext([member], None, HOT))[0]


def first_end(text: str, s: str) -> int:
    return text.index(s) + len(s)


@pytest.mark.parametrize("straddle", [False, True])
def test_switch_string_hands_over_right_after_the_string(tiny_members, straddle):
    solo = solo_text(tiny_members[0])
    out = solo.output
    boundary = len(solo.attribution[0].text) + len(solo.attribution[1].text)
    # a 3-character string inside one segment, or straddling the boundary of segments 2 and 3,
    # whose first occurrence in the text is the one picked
    starts = [boundary - 1, boundary - 2] if straddle else [1, 2, 3]
    picked = [st for st in starts if out[st : st + 3].strip() and out.index(out[st : st + 3]) == st]
    assert picked, out
    s = out[picked[0] : picked[0] + 3]
    cut = picked[0] + 3
    r = run(tiny_members, examples=EXAMPLES[:1], settings=HOT, segment_tokens=4, max_rounds=40, mode="string",
            switch_strings=[s])[0]
    assert_consistent([r], 40)
    llama_text = "".join(a.text for a in r.attribution if a.model == "llama")
    assert llama_text == out[:cut]
    assert r.output.startswith(out[:cut]) and writer_order(r) == ["llama", "gemma"]
    assert r.attribution[-1].model == "gemma"


def test_mixed_switches_at_whichever_comes_first(tiny_members):
    solo = solo_text(tiny_members[0])
    s = solo.output[1:4]
    cut = first_end(solo.output, s)
    early = run(tiny_members, examples=EXAMPLES[:1], settings=HOT, segment_tokens=4, mode="mixed",
                length_thresholds=[30], switch_strings=[s])[0]
    assert "".join(a.text for a in early.attribution if a.model == "llama") == solo.output[:cut]
    late = run(tiny_members, examples=EXAMPLES[:1], segment_tokens=4, mode="mixed", length_thresholds=[6],
               switch_strings=["\u2603 never \u2603"])[0]
    assert tokens_by_model(late)["llama"] == 6 and writer_order(late) == ["llama", "gemma"]
    assert_consistent([early, late], 40)


# -- recipe errors ------------------------------------------------------------------------------

def recipe(aggregator: dict, n_models: int = 2) -> dict:
    models = [{"name": f"m{i}", "params": {"model": "smollm2-135m-instruct"}} for i in range(n_models)]
    return {"name": "t", "models": models, "aggregator": aggregator}


def problems(data: dict) -> list[str]:
    with pytest.raises(RecipeError) as err:
        validate_recipe(data, get_registry())
    assert err.value.exit_code == 2
    return [str(p) for p in err.value.problems]


def test_thresholds_must_increase():
    found = problems(recipe({"type": "progressive", "params": {"length_thresholds": [300, 100]}}))
    assert len(found) == 1 and found[0].startswith("aggregator.params.length_thresholds: ")
    assert "increase" in found[0]


def test_more_bands_than_models():
    found = problems(recipe({"type": "progressive", "params": {"length_thresholds": [100, 300]}}))
    assert found == ["aggregator.params.length_thresholds: 3 length bands but only 2 model(s); "
                     "give at most 1 threshold(s)"]
    validate_recipe(recipe({"type": "progressive", "params": {"length_thresholds": [100, 300]}}, 3),
                    get_registry())


def test_mode_needs_its_trigger():
    found = problems(recipe({"type": "progressive", "params": {"mode": "string"}}))
    assert found[0].startswith("aggregator.params.switch_strings: ")


def test_unknown_method_suggests_the_closest():
    found = problems(recipe({"type": "progresive"}))
    assert found == [
        "aggregator.type: unknown aggregator 'progresive' — did you mean 'progressive'? Available: "
        + ", ".join(get_registry().names("aggregator"))
    ]
