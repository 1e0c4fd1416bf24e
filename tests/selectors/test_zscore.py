"""The ``zscore`` selector: the formula on a hand-computed example, prompt statistics against a plain
forward pass, reference files keyed by model name, and the recipe errors."""

from __future__ import annotations

import json
import math

import pytest
import torch

from aggregator_checks import EXAMPLES
from ensemble_cli.errors import RecipeError
from ensemble_cli.plugins import get_registry
from ensemble_cli.recipe import validate_recipe
from ensemble_cli.selectors.prompt_stats import PromptStats, prompt_stats
from ensemble_cli.selectors.zscore import (
    ModelReference,
    Moments,
    ZScoreConfig,
    ZScoreSelector,
    keep,
    reference_from_stats,
    zscores,
)

STATS = {"a": PromptStats(10.0, 0.5), "b": PromptStats(20.0, 0.3), "c": PromptStats(30.0, 0.4)}


def test_across_candidates_by_hand():
    # ppl: mean 20, population sd sqrt(200/3) = 8.16497 -> z = -1.224745, 0, +1.224745
    # conf: mean 0.4, population sd sqrt(0.02/3) = 0.0816497 -> z = +1.224745, -1.224745, 0
    # score = (z_conf - z_ppl) / 2
    s = zscores(STATS)
    assert s == pytest.approx({"a": 1.224745, "b": -0.612372, "c": -0.612372}, abs=1e-6)
    names = ["a", "b", "c"]
    assert keep(s, names, threshold=0.0, top_k=None) == ["a"]
    assert keep(s, names, threshold=0.0, top_k=1) == ["a"]
    assert keep({"a": 1.0, "b": -0.5, "c": -0.5}, names, threshold=0.0, top_k=2) == ["a", "b"]  # tie: recipe order
    assert keep(s, names, threshold=5.0, top_k=None) == ["a"]  # nobody passes: the best is kept
    assert keep(s, ["c", "b", "a"], threshold=-1.0, top_k=None) == ["c", "b", "a"]


def test_against_reference_by_hand():
    ref = {
        "a": ModelReference(perplexity=Moments(mean=12, std=4), max_prob=Moments(mean=0.45, std=0.1), examples=9),
        "b": ModelReference(perplexity=Moments(mean=20, std=0), max_prob=Moments(mean=0.2, std=0.05), examples=9),
    }
    # a: z_ppl = (10-12)/4 = -0.5, z_conf = (0.5-0.45)/0.1 = 0.5 -> 0.5
    # b: z_ppl = 0 (sd 0), z_conf = (0.3-0.2)/0.05 = 2 -> 1.0
    s = zscores({"a": STATS["a"], "b": STATS["b"]}, ref)
    assert s == pytest.approx({"a": 0.5, "b": 1.0})
    assert keep(s, ["a", "b"], threshold=0.75, top_k=None) == ["b"]


def test_reference_moments_are_sample_statistics():
    ref = reference_from_stats({"m": [PromptStats(1, 0.1), PromptStats(3, 0.3)]}, recipe="r", input="x")
    assert ref.models["m"].perplexity == Moments(mean=2, std=math.sqrt(2))
    assert ref.models["m"].max_prob.mean == pytest.approx(0.2) and ref.models["m"].examples == 2


def test_prompt_stats_match_a_plain_forward_pass(tiny_members):
    gen = tiny_members[1].generator  # Gemma-3: plain-template fallback, SentencePiece
    got = prompt_stats(gen, EXAMPLES[:2])
    for ex, stats in zip(EXAMPLES[:2], got, strict=True):
        ids = gen.prompt_ids(ex.messages)
        with torch.no_grad():
            logp = torch.log_softmax(gen.loaded.model(torch.tensor([ids])).logits[0, :-1].float(), dim=-1)
        target = logp.gather(1, torch.tensor(ids[1:])[:, None]).squeeze(1)
        assert stats.perplexity == pytest.approx(math.exp(-target.mean().item()), rel=1e-4)
        assert stats.max_prob == pytest.approx(logp.exp().max(dim=-1).values.mean().item(), rel=1e-4)


def test_selection_is_deterministic_and_uses_the_file_by_name(tiny_members, tmp_path):
    sel = ZScoreSelector(ZScoreConfig(top_k=1))
    first = sel.select(EXAMPLES, tiny_members)
    assert first == sel.select(EXAMPLES, tiny_members) and all(len(c) == 1 for c in first)
    # a reference built from these very prompts, with the models listed in the *other* order
    stats = {m.name: prompt_stats(m.generator, EXAMPLES) for m in tiny_members[::-1]}
    path = tmp_path / "ref.json"
    path.write_text(reference_from_stats(stats).model_dump_json())
    ref = json.loads(path.read_text())["models"]
    assert list(ref) == ["gemma", "llama"]
    chosen = ZScoreSelector(ZScoreConfig(reference_stats=str(path), top_k=1)).select(EXAMPLES, tiny_members)
    refs = {n: ModelReference.model_validate(r) for n, r in ref.items()}
    for i, names in enumerate(chosen):
        scores = zscores({m.name: stats[m.name][i] for m in tiny_members}, refs)
        assert names == keep(scores, ["llama", "gemma"], threshold=0.0, top_k=1)


# -- recipe errors ------------------------------------------------------------------------------

def recipe(params: dict) -> dict:
    models = [{"name": n, "params": {"model": "smollm2-135m-instruct"}} for n in ("smol", "gemma")]
    return {"name": "t", "models": models, "selector": {"type": "zscore", "params": params},
            "aggregator": {"type": "loop"}}


def test_reference_file_missing_a_model_is_a_recipe_error(tmp_path):
    path = tmp_path / "ref.json"
    path.write_text(reference_from_stats({"smol": [PromptStats(1, 0.1), PromptStats(2, 0.2)]}).model_dump_json())
    with pytest.raises(RecipeError) as err:
        validate_recipe(recipe({"reference_stats": str(path)}), get_registry())
    assert err.value.exit_code == 2
    [problem] = err.value.problems
    assert problem.path == "selector.params.reference_stats"
    assert "no statistics for model(s) 'gemma' (it has: smol)" in problem.message
    # and at run time, if the file changed after validation
    sel = ZScoreSelector(ZScoreConfig(reference_stats=str(path)))
    from ensemble_cli.core.components import Member

    with pytest.raises(RecipeError, match="selector.params.reference_stats"):
        sel.select(EXAMPLES[:1], [Member("smol", None), Member("gemma", None)])  # type: ignore[arg-type]


@pytest.mark.parametrize(("content", "message"), [
    (None, "not found"),
    ("{not json", "cannot read"),
    ('{"models": {"smol": {"perplexity": {"mean": 1}}}}', "is not a reference statistics file"),
])
def test_bad_reference_files(tmp_path, content, message):
    path = tmp_path / "ref.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(RecipeError) as err:
        validate_recipe(recipe({"reference_stats": str(path)}), get_registry())
    assert err.value.problems[0].path == "selector.params.reference_stats" and message in err.value.problems[0].message


def test_top_k_beyond_the_models_is_a_recipe_error():
    with pytest.raises(RecipeError) as err:
        validate_recipe(recipe({"top_k": 3}), get_registry())
    assert [p.path for p in err.value.problems] == ["selector.params.top_k"]
