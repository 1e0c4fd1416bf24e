"""The reward aggregator on tiny random-weight models (a Llama and a Gemma-3, real tokenizers)."""

from __future__ import annotations

import pytest

from ensemble_cli.aggregators.reward import RewardAggregator, RewardConfig
from ensemble_cli.core.components import Candidate, EnsembleContext, Member, Scorer
from ensemble_cli.core.types import Example, GenerationSettings
from ensemble_cli.scorers.logprob import LogprobScorer
from tiny_models import make_generator, tiny_gemma3, tiny_llama

EXAMPLES = [
    Example("q1", [{"role": "user", "content": "What is 7 times 8?"}]),
    Example("q2", [{"role": "user", "content": "Tell me about the moon."}]),
    Example("q3", [{"role": "user", "content": "List three fruits."}]),
]


@pytest.fixture(scope="module")
def members():
    return [
        Member("llama", make_generator(*tiny_llama(), "llama")),
        Member("gemma", make_generator(*tiny_gemma3(), "gemma")),
    ]


class FixedScorer(Scorer):
    """Prefers one member on even rounds and the other on odd ones (by output length parity)."""

    def score(self, candidates):
        out = []
        for c in candidates:
            rnd = len(c.prefix) % 2
            out.append(1.0 if (c.member == "gemma") == bool(rnd) else 0.0)
        return out


def run(members, examples=EXAMPLES, scorer=None, settings=None, **cfg):
    agg = RewardAggregator(RewardConfig(**cfg))
    ctx = EnsembleContext(members, scorer or LogprobScorer(), settings or GenerationSettings(max_tokens=40))
    return agg.run(examples, ctx)


def test_attribution_concatenates_to_output_and_respects_budget(members):
    results = run(members, segment_tokens=8, max_rounds=10)
    for r in results:
        assert "".join(a.text for a in r.attribution) == r.output
        assert r.usage.completion_tokens == sum(a.tokens for a in r.attribution) <= 40
        assert {a.model for a in r.attribution} <= {"llama", "gemma"}
        assert r.finish_reason in ("stop", "length")
        assert r.stop_cause in ("eos", "stop_string", "max_tokens", "max_rounds", "repetition")
        assert r.usage.generated_tokens >= r.usage.completion_tokens


def test_deterministic_and_batch_independent(members):
    a = run(members, segment_tokens=6, max_rounds=5)
    b = run(members, segment_tokens=6, max_rounds=5)
    solo = run(members, examples=EXAMPLES[1:2], segment_tokens=6, max_rounds=5)
    assert [r.output for r in a] == [r.output for r in b]
    assert solo[0].output == a[1].output
    # same writers, texts and token counts; scores agree up to float noise of different batch shapes
    key = [(x.model, x.round, x.text, x.tokens) for x in solo[0].attribution]
    assert key == [(x.model, x.round, x.text, x.tokens) for x in a[1].attribution]
    assert [x.score for x in solo[0].attribution] == pytest.approx([x.score for x in a[1].attribution], abs=1e-4)


def test_winner_alternates_with_the_scorer(members):
    """Both members win rounds, and the output still equals the attributed pieces."""
    results = run(members, scorer=FixedScorer(), segment_tokens=5, max_rounds=6)
    for r in results:
        assert "".join(a.text for a in r.attribution) == r.output
    writers = {a.model for r in results for a in r.attribution}
    assert writers == {"llama", "gemma"}


def test_max_rounds_and_max_tokens_end_with_length(members):
    r = run(members, segment_tokens=4, max_rounds=2, settings=GenerationSettings(max_tokens=100))
    assert all(x.rounds <= 2 for x in r)
    assert any(x.stop_cause == "max_rounds" and x.finish_reason == "length" for x in r)
    r = run(members, segment_tokens=8, max_rounds=50, settings=GenerationSettings(max_tokens=12))
    assert any(x.stop_cause == "max_tokens" and x.usage.completion_tokens == 12 for x in r)


def test_stop_string_ends_the_example(members):
    first = run(members, examples=EXAMPLES[:1], segment_tokens=8, max_rounds=3)[0].output
    stop = first[5:8]
    r = run(members, examples=EXAMPLES[:1], segment_tokens=8, max_rounds=3,
            settings=GenerationSettings(max_tokens=40, stop=[stop]))[0]
    assert r.finish_reason == "stop" and stop not in r.output


class RepeatScorer(Scorer):
    def score(self, candidates: list[Candidate]) -> list[float]:
        return [0.0 for _ in candidates]


def test_repeat_guard_never_repeats_the_previous_segment(members, monkeypatch):
    """When every candidate repeats the previous segment, the example stops with 'repetition'."""
    from ensemble_cli.core.types import Segment

    agg = RewardAggregator(RewardConfig(segment_tokens=4, max_rounds=5))
    from ensemble_cli.aggregators.reward import _State

    st = _State(EXAMPLES[0])
    from ensemble_cli.core.types import Attribution

    st.attribution.append(Attribution("llama", 0, "abc", 2))
    segs = [Segment([1], "abc", [-1.0], "length"), Segment([2], "xyz", [-2.0], "length")]
    assert agg._pick(st, segs, [0.0, -1.0]) == 1
    assert agg._pick(st, [segs[0], segs[0]], [0.0, 0.0]) is None
    off = RewardAggregator(RewardConfig(repeat_guard=False))
    assert off._pick(st, [segs[0], segs[0]], [0.0, 0.0]) == 0
