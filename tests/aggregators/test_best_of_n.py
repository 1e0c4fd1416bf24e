"""The ``best-of-n`` aggregator on tiny random-weight models (a Llama and a Gemma-3, real tokenizers)."""

from __future__ import annotations

import pytest

from ensemble_cli.aggregators.best_of_n import BestOfNAggregator, BestOfNConfig
from ensemble_cli.aggregators.single import SingleAggregator
from ensemble_cli.core.components import EnsembleContext, Member
from ensemble_cli.core.types import GenerationSettings
from response_fixtures import EXAMPLES, LengthScorer
from tiny_models import make_generator, tiny_gemma3, tiny_llama


@pytest.fixture(scope="module")
def members():
    return [Member("llama", make_generator(*tiny_llama(), "llama")),
            Member("gemma", make_generator(*tiny_gemma3(), "gemma"))]


def run(members, examples=EXAMPLES, scorer=None, settings=None, **cfg):
    ctx = EnsembleContext(members, scorer or LengthScorer(), settings or GenerationSettings(max_tokens=24))
    return BestOfNAggregator(BestOfNConfig(**cfg)).run(examples, ctx)


def test_picks_the_best_scored_of_all_answers(members):
    scorer = LengthScorer()
    results = run(members, scorer=scorer, n=3, temperature=1.0)
    (seen,) = scorer.seen  # one batched score call for the whole batch
    assert len(seen) == len(EXAMPLES) * 2 * 3
    for ex, r in zip(EXAMPLES, results, strict=True):
        pool = [c for c in seen if c.example.id == ex.id]
        assert {c.prefix for c in pool} == {""} and len(pool) == 6
        best = max(len(c.segment.text) for c in pool)
        assert len(r.output) == best
        assert r.attribution[0].score == best and r.attribution[0].text == r.output
        assert r.usage.generated_tokens == sum(len(c.segment.token_ids) for c in pool)
        assert r.usage.completion_tokens == r.attribution[0].tokens <= 24
        assert r.rounds == 1 and r.stop_cause in ("eos", "stop_string", "max_tokens")


def test_sample_zero_is_the_single_models_answer(members):
    settings = GenerationSettings(max_tokens=20)
    single = SingleAggregator().run(EXAMPLES, EnsembleContext(members[:1], None, settings))
    best = run(members[:1], settings=settings, n=1)
    assert [r.output for r in best] == [r.output for r in single]


def test_samples_differ_and_do_not_depend_on_the_batch(members):
    scorer = LengthScorer()
    a = run(members[:1], scorer=scorer, n=3, temperature=1.0)
    texts = [c.segment.text for c in scorer.seen[0] if c.example.id == "q2"]
    assert len(set(texts)) > 1  # the samples of one member are not copies
    solo = run(members[:1], examples=EXAMPLES[1:2], n=3, temperature=1.0)
    assert solo[0].output == a[1].output


def test_streams_the_chosen_answer_and_honours_cancellation(members):
    emitted: list[tuple[int, str]] = []
    ctx = EnsembleContext(members, LengthScorer(), GenerationSettings(max_tokens=16),
                          on_text=lambda i, t: emitted.append((i, t)), cancelled=lambda i: i == 1)
    results = BestOfNAggregator(BestOfNConfig(n=2, temperature=1.0)).run(EXAMPLES, ctx)
    assert results[1].output == "" and (results[1].finish_reason, results[1].stop_cause) == ("stop", "cancelled")
    assert sorted(i for i, _ in emitted) == [0, 2]
    assert dict(emitted) == {0: results[0].output, 2: results[2].output}


def test_per_member_sample_counts(members):
    scorer = LengthScorer()
    run(members, scorer=scorer, n={"llama": 1, "gemma": 2}, temperature=1.0)
    (seen,) = scorer.seen
    q1 = [c.member for c in seen if c.example.id == "q1"]
    assert q1 == ["llama", "gemma", "gemma"]


def test_the_record_lists_every_sample_with_its_answer_and_score(members):
    scorer = LengthScorer()
    results = run(members, scorer=scorer, n={"llama": 2, "gemma": 1}, temperature=1.0)
    (seen,) = scorer.seen
    for ex, r in zip(EXAMPLES, results, strict=True):
        cands = r.summary["candidates"]
        assert [(c["member"], c["sample"]) for c in cands] == [("llama", 0), ("llama", 1), ("gemma", 0)]
        pool = [c for c in seen if c.example.id == ex.id]
        assert [c["tokens"] for c in cands] == [len(c.segment.token_ids) for c in pool]
        assert [c["score"] for c in cands] == [float(len(c.segment.text)) for c in pool]
        (chosen,) = [c for c in cands if c["chosen"]]
        assert chosen["score"] == r.attribution[0].score and chosen["tokens"] == r.usage.completion_tokens
    assert run(members[:1], n=2, temperature=1.0, record_candidates=False)[0].summary == {}
