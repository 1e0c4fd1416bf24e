"""The ``moa`` aggregator (Mixture-of-Agents) on tiny random-weight models."""

from __future__ import annotations

import pytest

from ensemble_cli.aggregators.moa import SYNTHESIS_PROMPT, MoAAggregator, MoAConfig, synthesis_example
from ensemble_cli.aggregators.single import SingleAggregator, SingleConfig
from ensemble_cli.core.components import EnsembleContext, Member
from ensemble_cli.core.types import Example, GenerationSettings
from ensemble_cli.errors import UsageError
from response_fixtures import EXAMPLES
from tiny_models import make_generator, tiny_gemma3, tiny_llama

SETTINGS = GenerationSettings(max_tokens=10)


@pytest.fixture(scope="module")
def members():
    return [Member("llama", make_generator(*tiny_llama(), "llama")),
            Member("gemma", make_generator(*tiny_gemma3(), "gemma"))]


def single(member, examples):
    return [r.output for r in SingleAggregator(SingleConfig(chunk_tokens=64)).run(
        examples, EnsembleContext([member], None, SETTINGS))]


def test_synthesis_prompt_lists_the_answers_before_the_request():
    ex = Example("e", [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Q?"}])
    out = synthesis_example(ex, "Synthesise.", [" first ", "second"])
    assert out.id == "e" and out.messages[1:] == [{"role": "user", "content": "Q?"}]
    assert out.messages[0] == {
        "role": "system",
        "content": "Synthesise.\n\nResponses from models:\n\n1. first\n\n2. second\n\nBe terse.",
    }


def test_two_layers_then_the_aggregator_equals_running_them_by_hand(members):
    llama, gemma = members
    emitted: dict[int, str] = {}
    ctx = EnsembleContext(members, None, SETTINGS, on_text=lambda i, t: emitted.update({i: emitted.get(i, "") + t}))
    results = MoAAggregator(MoAConfig(layers=2, aggregator_model="gemma", chunk_tokens=4)).run(EXAMPLES[:2], ctx)
    # by hand: layer 1 answers the question, layer 2 sees layer 1's answers, gemma synthesises layer 2's
    layer1 = list(zip(single(llama, EXAMPLES[:2]), single(gemma, EXAMPLES[:2]), strict=True))
    prompts2 = [synthesis_example(ex, SYNTHESIS_PROMPT, list(a)) for ex, a in zip(EXAMPLES[:2], layer1, strict=True)]
    layer2 = list(zip(single(llama, prompts2), single(gemma, prompts2), strict=True))
    prompts3 = [synthesis_example(ex, SYNTHESIS_PROMPT, list(a)) for ex, a in zip(EXAMPLES[:2], layer2, strict=True)]
    final = single(gemma, prompts3)
    assert [r.output for r in results] == final
    for i, r in enumerate(results):
        assert emitted.get(i, "") == r.output  # streamed piece by piece
        assert "".join(a.text for a in r.attribution) == r.output
        assert {a.model for a in r.attribution} <= {"gemma"} and r.rounds == 3
        assert r.usage.generated_tokens > r.usage.completion_tokens


def test_self_moa_aggregates_sampled_proposals_of_one_member(members):
    from dataclasses import replace

    from ensemble_cli.aggregators.full_answers import final_answers, write_answers
    from ensemble_cli.aggregators.trace import finite

    llama = members[0]
    ctx = EnsembleContext(members, None, SETTINGS)
    cfg = MoAConfig(layers=[["llama"]], samples=3, proposer_temperature=1.0, aggregator_model="llama")
    results = MoAAggregator(cfg).run(EXAMPLES[:2], ctx)
    sampled = replace(SETTINGS, temperature=1.0)
    answers, _ = write_answers(llama, EXAMPLES[:2], sampled, EnsembleContext([llama], None, sampled), n=3)
    proposals = [[a.segment.text for a in row] for row in answers]
    assert len(set(proposals[1])) > 1  # sampled, not three copies
    prompts = [synthesis_example(ex, SYNTHESIS_PROMPT, p) for ex, p in zip(EXAMPLES[:2], proposals, strict=True)]
    assert [r.output for r in results] == single(llama, prompts)
    for r, row in zip(results, answers, strict=True):
        assert r.usage.generated_tokens == r.usage.completion_tokens + sum(len(a.segment.token_ids) for a in row)
        # every proposal is in the record, with the final answer a vote would count
        assert r.summary["proposals"] == [
            {"layer": 0, "member": "llama", "sample": a.sample, "answer": final,
             "finish_reason": a.segment.finish_reason, "tokens": len(a.segment.token_ids),
             "mean_logprob": finite(a.segment.mean_logprob)}
            for a, final in zip(row, final_answers(row), strict=True)
        ]
        assert [p["sample"] for p in r.summary["proposals"]] == [0, 1, 2]


def test_proposals_of_every_layer_are_recorded_unless_switched_off(members):
    ctx = EnsembleContext(members, None, SETTINGS)
    (r,) = MoAAggregator(MoAConfig(layers=[["gemma"], ["llama", "gemma"]])).run(EXAMPLES[:1], ctx)
    assert [(p["layer"], p["member"]) for p in r.summary["proposals"]] == [(0, "gemma"), (1, "llama"), (1, "gemma")]
    assert r.usage.generated_tokens == r.usage.completion_tokens + sum(p["tokens"] for p in r.summary["proposals"])
    (quiet,) = MoAAggregator(MoAConfig(layers=[["gemma"], ["llama", "gemma"]], record_proposals=False)).run(
        EXAMPLES[:1], ctx)
    assert quiet.summary == {} and quiet.output == r.output


def test_explicit_layers_and_errors(members):
    ctx = EnsembleContext(members, None, SETTINGS)
    (r,) = MoAAggregator(MoAConfig(layers=[["gemma"], ["llama", "phi"]])).run(EXAMPLES[:1], ctx)
    assert r.attribution and r.attribution[0].model == "llama" and r.rounds == 3
    with pytest.raises(UsageError, match="proposer layer 1 has none of its members selected"):
        MoAAggregator(MoAConfig(layers=[["llama"], ["phi"]])).run(EXAMPLES[:1], ctx)
    with pytest.raises(UsageError, match="aggregator_model 'phi'"):
        MoAAggregator(MoAConfig(aggregator_model="phi")).run(EXAMPLES[:1], ctx)


def test_cancelled_example_stops(members):
    ctx = EnsembleContext(members, None, SETTINGS, cancelled=lambda i: i == 0)
    r = MoAAggregator(MoAConfig(layers=1)).run(EXAMPLES[:2], ctx)
    assert (r[0].finish_reason, r[0].stop_cause, r[0].output) == ("stop", "cancelled", "")
    assert r[1].stop_cause in ("eos", "stop_string", "max_tokens")


def test_recipe_validation_checks_layer_and_aggregator_names(tmp_path):
    from ensemble_cli.errors import RecipeError
    from ensemble_cli.recipe import load_recipe

    recipe = tmp_path / "moa.yaml"
    recipe.write_text(
        "name: moa\nmodels: [{name: smol, params: {model: org/x}}, {name: gemma, params: {model: org/y}}]\n"
        "aggregator: {type: moa, params: {layers: [[smol, phi], []], aggregator_model: gemm}}\n"
    )
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe)
    assert sorted(str(p) for p in info.value.problems) == [
        "aggregator.params.aggregator_model: 'gemm' is not a model of this recipe",
        "aggregator.params.layers.0.1: 'phi' is not a model of this recipe",
        "aggregator.params.layers.1: a proposer layer needs at least one model",
    ]
    recipe.write_text(recipe.read_text().replace("[[smol, phi], []], aggregator_model: gemm", "0"))
    with pytest.raises(RecipeError, match="aggregator.params.layers: at least one proposer layer"):
        load_recipe(recipe)
