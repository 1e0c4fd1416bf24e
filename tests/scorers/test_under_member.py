"""``logprob`` and ``self-certainty`` under a named member, the writer, or all members (tiny models)."""

from __future__ import annotations

import math

import pytest
import torch

from ensemble_cli.core.components import Candidate, Member
from ensemble_cli.core.types import Example, GenerationSettings
from ensemble_cli.errors import UsageError
from ensemble_cli.scorers.logprob import LogprobConfig, LogprobScorer
from ensemble_cli.scorers.self_certainty import SelfCertaintyConfig, SelfCertaintyScorer
from tiny_models import make_generator, tiny_gemma3, tiny_llama

EXAMPLES = [Example("q1", [{"role": "user", "content": "What is 7 times 8?"}]),
            Example("q2", [{"role": "user", "content": "Name a colour."}])]


@pytest.fixture(scope="module")
def members():
    return [Member("llama", make_generator(*tiny_llama(), "llama")),
            Member("gemma", make_generator(*tiny_gemma3(), "gemma"))]


@pytest.fixture(scope="module")
def candidates(members):
    """Each member writes 6 tokens for each example, after a shared prefix."""
    out = []
    for m in members:
        sessions = m.generator.open(EXAMPLES, GenerationSettings())
        sessions.append(["The answer", "It is"])
        for ex, pre, seg in zip(EXAMPLES, ["The answer", "It is"], sessions.generate(6), strict=True):
            out.append(Candidate(ex, pre, m.name, seg))
    return out


def bound(scorer, members):
    scorer.bind(members)
    return scorer


def reference(member, cand):
    """Full forward of prompt + prefix + text under ``member``: mean log-prob and mean KL(U||p)."""
    gen = member.generator
    item = gen.continuation_item(cand.example, cand.prefix, cand.segment.text)
    ids = torch.tensor([item.context_ids + item.target_ids])
    with torch.inference_mode():
        logp = torch.log_softmax(gen.loaded.model(input_ids=ids).logits[0].float(), -1)
    n = len(item.context_ids)
    rows = range(n - 1, n - 1 + len(item.target_ids))
    lp = [logp[r, t].item() for r, t in zip(rows, item.target_ids, strict=True)]
    cert = [(-math.log(logp.shape[-1]) - logp[r].mean()).item() for r in rows]
    return sum(lp) / len(lp), sum(cert) / len(cert)


def test_logprob_under_a_named_member_is_teacher_forced(members, candidates):
    got = bound(LogprobScorer(LogprobConfig(under="gemma")), members).score(candidates)
    want = [reference(members[1], c)[0] for c in candidates]
    assert got == pytest.approx(want, abs=1e-4)


def test_teacher_forced_logprob_under_the_writer_matches_sampling(members, candidates):
    """The writer's own greedy segment, re-read by the writer, gets back its sampled log-probs."""
    llama = [c for c in candidates if c.member == "llama"]
    got = bound(LogprobScorer(LogprobConfig(under="llama")), members).score(llama)
    assert got == pytest.approx([c.segment.mean_logprob for c in llama], abs=1e-3)
    assert LogprobScorer().score(llama) == [c.segment.mean_logprob for c in llama]  # writer: no forward


def test_self_certainty_under_writer_named_and_all(members, candidates):
    writer = bound(SelfCertaintyScorer(), members).score(candidates)
    by = {m.name: m for m in members}
    assert writer == pytest.approx([reference(by[c.member], c)[1] for c in candidates], abs=1e-4)
    llama = bound(SelfCertaintyScorer(SelfCertaintyConfig(under="llama")), members).score(candidates)
    gemma = bound(SelfCertaintyScorer(SelfCertaintyConfig(under="gemma")), members).score(candidates)
    both = bound(SelfCertaintyScorer(SelfCertaintyConfig(under="all")), members).score(candidates)
    assert both == pytest.approx([(a + b) / 2 for a, b in zip(llama, gemma, strict=True)], abs=1e-6)
    assert all(x > 0 for x in llama + gemma)  # KL(U||p) >= 0, and random models are not exactly uniform


def test_empty_candidate_and_unknown_member(members, candidates):
    from ensemble_cli.core.types import Segment

    empty = Candidate(EXAMPLES[0], "", "llama", Segment([], "", [], "length"))
    assert bound(SelfCertaintyScorer(), members).score([empty]) == [-math.inf]
    assert bound(LogprobScorer(LogprobConfig(under="all")), members).score([empty]) == [-math.inf]
    with pytest.raises(UsageError, match="under='phi' is not a member"):
        LogprobScorer(LogprobConfig(under="phi")).bind(members)
    with pytest.raises(UsageError, match="none were bound"):
        SelfCertaintyScorer().score(candidates[:1])


def test_the_pipeline_binds_the_recipes_members_to_the_scorer(tmp_path):
    """Building a Pipeline (nothing loads) hands every recipe member to the scorer; a wrong ``under``
    is a recipe error before that (and ``bind`` refuses it for programmatic use, tested above)."""
    from pathlib import Path

    from ensemble_cli.core.pipeline import Pipeline
    from ensemble_cli.core.pool import ModelPool
    from ensemble_cli.recipe import load_recipe

    quickstart = Path(__file__).resolve().parents[2] / "recipes" / "quickstart.yaml"
    weighted = "scorer={type: weighted, params: {parts: [{type: self-certainty, params: {under: gemma}}]}}"
    pool = ModelPool()
    pipe = Pipeline(load_recipe(quickstart, [weighted]), pool)
    assert [m.name for m in pipe.scorer.parts[0].members] == ["smol", "gemma"]
    from ensemble_cli.errors import RecipeError

    with pytest.raises(RecipeError, match="scorer.params.under: 'phi' is not a model of this recipe"):
        load_recipe(quickstart, ["scorer.params.under=phi"])  # validation catches it before a Pipeline
    assert pool.loads == 0


def test_recipe_validation_checks_under_judge_and_nested_parts(tmp_path):
    from ensemble_cli.errors import RecipeError
    from ensemble_cli.recipe import load_recipe

    head = "name: t\nmodels: [{name: smol, params: {model: org/x}}, {name: gemma, params: {model: org/y}}]\n"
    recipe = tmp_path / "r.yaml"
    cases = {
        "aggregator: reward\nscorer: {type: logprob, params: {under: phi}}\n":
            "scorer.params.under: 'phi' is not a model of this recipe (smol, gemma), 'writer' or 'all'",
        "aggregator: rank\nscorer: {type: judge, params: {member: gemma3}}\n":
            "scorer.params.member: 'gemma3' is not a model of this recipe (smol, gemma)",
        "aggregator: best-of-n\nscorer: {type: weighted, params: {parts: [vote, "
        "{type: self-certainty, params: {under: smoll}}]}}\n":
            "scorer.params.parts.1.params.under: 'smoll' is not a model of this recipe (smol, gemma), "
            "'writer' or 'all'",
    }
    for body, message in cases.items():
        recipe.write_text(head + body)
        with pytest.raises(RecipeError) as info:
            load_recipe(recipe)
        assert [str(p) for p in info.value.problems] == [message]
    recipe.write_text(head + "aggregator: reward\nscorer: {type: self-certainty, params: {under: all}}\n")
    assert load_recipe(recipe).scorer.config.under == "all"
