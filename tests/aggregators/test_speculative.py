"""Speculative ``union`` / ``topk-union`` (``aggregators/speculative.py``): the same output and the same member
streams as plain stepping, on tiny random-weight models with the real tokenizers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from ensemble_cli.aggregators.topk_union import TopkUnionAggregator
from ensemble_cli.aggregators.union import UnionAggregator
from ensemble_cli.core.components import EnsembleContext, Member
from ensemble_cli.core.types import Example, GenerationSettings
from ensemble_cli.errors import RecipeError
from ensemble_cli.recipe import load_recipe
from scripted_models import FIVE, scripted_pair
from session_recorder import Recorder
from tiny_models import make_generator, tiny_llama

ROOT = Path(__file__).resolve().parents[2]
METHODS = {"union": UnionAggregator, "topk-union": TopkUnionAggregator}


@pytest.fixture(scope="module")
def strays():
    """Follow the script loosely: members agree on runs of tokens, stray and disagree often."""
    return scripted_pair(16.0)


@pytest.fixture(scope="module")
def follows():
    """Follow the script closely (🙂 in byte tokens for one, one token for the other)."""
    return scripted_pair(30.0)


@pytest.fixture(scope="module")
def ends():
    """Follow the script and end after "mat." (an end of sequence inside a draft)."""
    return scripted_pair(30.0, eos_after="mat.")


def run(method, members, settings, examples, **params):
    agg = METHODS[method](METHODS[method].Config(**params))
    return agg.run(examples, EnsembleContext(members, None, settings))


def same(plain, spec):
    """Token for token: text, end, attribution (writer, piece, score) and wins."""
    for a, b in zip(plain, spec, strict=True):
        assert b.output == a.output
        assert (b.finish_reason, b.stop_cause, b.rounds) == (a.finish_reason, a.stop_cause, a.rounds)
        assert [(x.model, x.text) for x in b.attribution] == [(x.model, x.text) for x in a.attribution]
        assert [x.score for x in b.attribution] == pytest.approx([x.score for x in a.attribution], rel=1e-4)
        assert b.summary["won_share"] == a.summary["won_share"]


CASES = {
    "strays": ("strays", {}),
    "follows": ("follows", {}),
    "eos": ("ends", {}),
    "stop": ("follows", {"stop": ["on the m", "\nUser:"]}),
    "stop-emoji": ("follows", {"stop": ["🙂 caf"]}),
}


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("batch", [1, 5])
def test_speculative_greedy_is_plain_greedy_and_leaves_the_same_streams(method, case, batch, request, monkeypatch):
    fixture, extra = CASES[case]
    llama, gemma = request.getfixturevalue(fixture)
    members = [Member("l", llama), Member("g", gemma)]
    settings = GenerationSettings(max_tokens=48, **extra)
    examples = FIVE[:batch]
    rec = Recorder(monkeypatch)
    plain = run(method, members, settings, examples)
    spec = run(method, members, settings, examples, speculate={"proposer": "l", "max_draft": 4})
    same(plain, spec)
    for k in (0, 1):  # sessions 0, 1: plain; 2, 3: speculative
        assert rec.final[k + 2] == rec.final[k]  # each member's ids and text, row by row
    sp = [r.summary["speculation"] for r in spec]
    assert sum(s["rounds"] for s in sp) < sum(r.rounds for r in spec)  # rounds really wrote several tokens
    for r, s in zip(spec, sp, strict=True):
        assert r.usage.generated_tokens == r.rounds + s["drafted"] - s["accepted"] >= r.rounds
        assert 0 < s["acceptance_rate"] <= 1 and 1 <= s["mean_draft"] <= 4
    if case == "strays" and batch == 5:
        # drafted entries that won a disagreement: the re-read was foreseen and the round went on
        assert sum(s["continued_past_disagreement"] for s in sp) > 0
    if case == "eos":
        assert any(r.stop_cause == "eos" for r in plain)
    if case.startswith("stop"):
        assert any(r.stop_cause == "stop_string" for r in plain)
    if fixture == "follows" and case == "follows":
        assert any("🙂" in r.output for r in plain)  # a draft that ends inside a character was verified


@pytest.mark.parametrize("batch", [1, 5])
def test_speculative_equals_plain_greedy_in_bfloat16_when_batch_invariant(batch):
    """In bf16 a k-token verification forward rounds otherwise than k decode steps, so speculative
    and plain ``union`` may write other text by default; in the batch-invariant mode a token's logits
    do not depend on how its text was split into forwards, and they write the same."""
    llama, gemma = scripted_pair(16.0, dtype=torch.bfloat16)
    members = [Member("l", llama), Member("g", gemma)]
    settings = GenerationSettings(max_tokens=48, batch_invariant=True)
    plain = run("union", members, settings, FIVE[:batch])
    spec = run("union", members, settings, FIVE[:batch], speculate={"proposer": "l", "max_draft": 4})
    same(plain, spec)
    assert sum(r.summary["speculation"]["accepted"] for r in spec) > 0


def test_proposer_can_be_either_member_and_draft_length_fixed_or_adaptive(follows, monkeypatch):
    members = [Member("l", follows[0]), Member("g", follows[1])]
    settings = GenerationSettings(max_tokens=40)
    plain = run("union", members, settings, FIVE[:3])
    for params in ({"proposer": "g"}, {"proposer": "l", "max_draft": 1}, {"proposer": "l", "adaptive": False}):
        spec = run("union", members, settings, FIVE[:3], speculate=params)
        same(plain, spec)
    fixed = run("union", members, settings, FIVE[:3], speculate={"proposer": "l", "max_draft": 6, "adaptive": False})
    assert all(r.summary["speculation"]["mean_draft"] > 3 for r in fixed)


def test_identical_tokenizers_accept_outvoted_drafts_too():
    """Shared tokenizer: a step the proposer wins without unanimity is still clean (everyone takes the token)."""
    (a, tok), (b, _) = tiny_llama(1, tie_word_embeddings=False), tiny_llama(3, tie_word_embeddings=False)
    for model in (a, b):
        model.model.norm.weight.data.mul_(40.0)
    members = [Member("a", make_generator(a, tok, "spec-a")), Member("b", make_generator(b, tok, "spec-b"))]
    settings = GenerationSettings(max_tokens=30)
    weights = {"a": 0.7, "b": 0.3}
    plain = run("union", members, settings, FIVE, weights=weights)
    spec = run("union", members, settings, FIVE, weights=weights, speculate={"proposer": "a"})
    same(plain, spec)
    assert sum(r.summary["speculation"]["rounds"] for r in spec) < sum(r.rounds for r in spec)


def test_sampled_speculation_keeps_the_merged_distribution():
    """Many seeded rows, one sampled step: the written entry follows plain union's merged distribution."""
    from scipy.stats import chisquare

    from ensemble_cli.vocab.union import SPECIAL

    llama, gemma = scripted_pair(8.0)
    members = [Member("l", llama), Member("g", gemma)]
    settings = GenerationSettings(max_tokens=1, temperature=1.0, seed=2024)
    prompt = [{"role": "user", "content": "Name a colour."}]
    n = 600
    results = run("union", members, settings, [Example(f"r{i}", prompt) for i in range(n)],
                  speculate={"proposer": "l"})
    counts: dict[str, int] = {}
    for r in results:
        counts[r.output] = counts.get(r.output, 0) + 1
    # the exact merged distribution of that step
    agg = UnionAggregator()
    union = agg._union(members)
    one = [Example("x", prompt)]
    dists = [m.generator.open(one, settings, salt=m.name).next_logits().float() for m in members]
    from ensemble_cli.aggregators.distributions import MemberDist
    from ensemble_cli.aggregators.token_stepping import StepInput

    q = agg.merge(StepInput(union, [MemberDist(d) for d in dists], torch.full((2, 1), 0.5)))[0]
    q[~union.clean | (union.kinds == SPECIAL)] = 0.0  # never written
    q = q / q.sum()
    probs = {}
    for e in q.nonzero().flatten().tolist():
        text = union.entry_bytes(e).decode("utf-8", errors="replace")
        probs[text] = probs.get(text, 0.0) + float(q[e])
    big = [t for t, p in probs.items() if p * n >= 5]
    assert len(big) >= 3  # the test is not about one near-certain entry
    observed = [counts.get(t, 0) for t in big] + [n - sum(counts.get(t, 0) for t in big)]
    expected = [probs[t] * n for t in big] + [n - sum(probs[t] * n for t in big)]
    assert chisquare(observed, expected).pvalue > 1e-3
    accepted = sum(r.summary["speculation"]["accepted"] for r in results)
    assert 0 < accepted < n  # both the acceptance and the residual path were taken


def test_sampled_speculation_is_reproducible_under_a_seed(strays):
    members = [Member("l", strays[0]), Member("g", strays[1])]
    settings = GenerationSettings(max_tokens=24, temperature=0.8, top_p=0.95, seed=9)
    a = run("union", members, settings, FIVE[:3], speculate={"proposer": "l"})
    b = run("union", members, settings, FIVE[:3], speculate={"proposer": "l"})
    c = run("union", members, dataclasses.replace(settings, seed=10), FIVE[:3], speculate={"proposer": "l"})
    assert [r.output for r in a] == [r.output for r in b] != [r.output for r in c]
    assert all("".join(x.text for x in r.attribution) == r.output for r in a)


def test_config_errors_name_the_field(strays):
    members = [Member("l", strays[0]), Member("g", strays[1])]
    settings = GenerationSettings(max_tokens=4)
    with pytest.raises(RecipeError, match=r"speculate\.proposer: 'x' is not a member"):
        run("union", members, settings, FIVE[:1], speculate={"proposer": "x"})
    with pytest.raises(RecipeError, match=r"speculate\.proposer: 'g' has weight 0"):
        run("union", members, settings, FIVE[:1], weights={"l": 1.0, "g": 0.0}, speculate={"proposer": "g"})
    with pytest.raises(ValueError, match="gate mode"):
        UnionAggregator.Config(primary="l", threshold=0.5, speculate={"proposer": "l"})
    with pytest.raises(ValueError, match="max_draft"):
        UnionAggregator.Config(speculate={"proposer": "l", "max_draft": 0})
    problems = UnionAggregator.recipe_problems(UnionAggregator.Config(speculate={"proposer": "z"}), ["l", "g"])
    assert [p.path for p in problems] == ["speculate.proposer"]


def test_speculative_recipe_is_token_union_plus_speculation(strays, monkeypatch):
    """Same members, weights and settings; on the tiny pair (swapped in for smol and gemma) the same output."""
    monkeypatch.chdir(ROOT)
    plain, spec = (load_recipe(f"recipes/{n}.yaml").as_dict() for n in ("token-union", "token-union-speculative"))
    assert spec["aggregator"]["params"].pop("speculate") == {"proposer": "smol", "max_draft": 4, "adaptive": True}
    assert plain["aggregator"]["params"].pop("speculate") is None
    for d in (plain, spec):
        del d["name"], d["description"]
    assert spec == plain
    members = [Member("smol", strays[0]), Member("gemma", strays[1])]
    settings = GenerationSettings(max_tokens=32, stop=["\nUser:"])
    outs = []
    for name in ("token-union", "token-union-speculative"):
        params = load_recipe(f"recipes/{name}.yaml").as_dict()["aggregator"]["params"]
        outs.append(run("union", members, settings, FIVE, **params))
    same(*outs)


def test_truncate_leaves_the_cache_as_if_the_tokens_were_never_fed(strays):
    llama = strays[0]
    settings = GenerationSettings(max_tokens=4)
    a, b = llama.open(FIVE[:2], settings), llama.open(FIVE[:2], settings)
    a.next_logits()
    b.next_logits()
    lens = [len(a.token_ids(r)) for r in range(2)]
    a.feed([[11, 12, 13], [14]], [None, None])
    span = a.span_logits([4, 2])
    assert span.shape[:2] == (2, 4)
    torch.testing.assert_close(span[:, 0].float(), b.next_logits().float(), rtol=1e-4, atol=1e-4)
    a.truncate(0, lens[0] + 1, "")
    a.truncate(1, lens[1], "")
    b.feed([[11], None], [None, None])
    assert [a.token_ids(r) for r in range(2)] == [b.token_ids(r) for r in range(2)]
    torch.testing.assert_close(a.next_logits().float(), b.next_logits().float(), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="truncate row 0"):
        a.truncate(0, 1, "")
