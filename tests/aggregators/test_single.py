"""The single-model baseline, and the streaming/cancel hooks every aggregator honours."""

from __future__ import annotations

import pytest

from ensemble_cli.aggregators.reward import RewardAggregator, RewardConfig
from ensemble_cli.aggregators.single import SingleAggregator, SingleConfig
from ensemble_cli.core.components import EnsembleContext, Member
from ensemble_cli.core.types import Example, GenerationSettings
from ensemble_cli.scorers.logprob import LogprobScorer
from tiny_models import make_generator, tiny_gemma3, tiny_llama

EXAMPLES = [
    Example("q1", [{"role": "user", "content": "What is 7 times 8?"}]),
    Example("q2", [{"role": "user", "content": "Tell me about the moon."}]),
]


@pytest.fixture(scope="module")
def members():
    return [
        Member("llama", make_generator(*tiny_llama(), "llama")),
        Member("gemma", make_generator(*tiny_gemma3(), "gemma")),
    ]


def test_single_equals_one_uninterrupted_generation(members):
    settings = GenerationSettings(max_tokens=30)
    chunked = SingleAggregator(SingleConfig(chunk_tokens=7)).run(EXAMPLES, EnsembleContext(members, None, settings))
    sess = members[0].generator.open(EXAMPLES, settings, salt="llama")
    whole = sess.generate(30)
    for r, seg in zip(chunked, whole, strict=True):
        assert r.output == seg.text
        assert r.usage.completion_tokens == len(seg.token_ids)
        assert "".join(a.text for a in r.attribution) == r.output
        assert {a.model for a in r.attribution} == {"llama"}
        assert (r.finish_reason, r.stop_cause) in {("length", "max_tokens"), ("stop", "eos")}


def test_single_uses_the_first_selected_member_and_sampling_is_seeded(members):
    settings = GenerationSettings(max_tokens=12, temperature=0.9, seed=7)
    agg = SingleAggregator()
    a = agg.run(EXAMPLES, EnsembleContext(members[::-1], None, settings))
    b = agg.run(EXAMPLES, EnsembleContext(members[::-1], None, settings))
    assert [r.output for r in a] == [r.output for r in b]
    assert all(x.model == "gemma" for r in a for x in r.attribution)


@pytest.mark.parametrize("kind", ["single", "reward"])
def test_emitted_text_is_the_output_and_cancel_stops_early(members, kind):
    agg = SingleAggregator(SingleConfig(chunk_tokens=4)) if kind == "single" else RewardAggregator(
        RewardConfig(segment_tokens=4, max_rounds=20, repeat_guard=False))
    settings = GenerationSettings(max_tokens=24, ignore_eos=True)
    pieces: dict[int, list[str]] = {0: [], 1: []}
    ctx = EnsembleContext(members, LogprobScorer(), settings, on_text=lambda i, t: pieces[i].append(t),
                          cancelled=lambda i: i == 1 and len(pieces[1]) >= 2)
    results = agg.run(EXAMPLES, ctx)
    assert ["".join(pieces[i]) for i in (0, 1)] == [r.output for r in results]
    assert results[0].stop_cause == "max_tokens" and results[0].usage.completion_tokens == 24
    assert (results[1].finish_reason, results[1].stop_cause) == ("stop", "cancelled")
    assert results[1].usage.completion_tokens == 8 and len(pieces[1]) == 2
