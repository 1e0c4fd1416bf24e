"""The reward aggregator on tiny random-weight models (a Llama and a Gemma-3, real tokenizers)."""

from __future__ import annotations

import pytest

from aggregator_checks import assert_consistent
from ensemble_cli.aggregators.reward import RewardAggregator, RewardConfig
from ensemble_cli.aggregators.rounds import RowState
from ensemble_cli.core.components import EnsembleContext, Member, Scorer
from ensemble_cli.core.types import Attribution, Example, GenerationSettings, Segment
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


def test_repeat_guard_never_repeats_the_previous_segment(members):
    """When every candidate repeats the previous segment, the example stops with 'repetition'."""
    agg = RewardAggregator(RewardConfig(segment_tokens=4, max_rounds=5))
    st = RowState(EXAMPLES[0])
    st.attribution.append(Attribution("llama", 0, "abc", 2))
    segs = [Segment([1], "abc", [-1.0], "length"), Segment([2], "xyz", [-2.0], "length")]
    assert agg._pick(st, segs, [0.0, -1.0]) == 1
    assert agg._pick(st, [segs[0], segs[0]], [0.0, 0.0]) is None
    off = RewardAggregator(RewardConfig(repeat_guard=False))
    assert off._pick(st, [segs[0], segs[0]], [0.0, 0.0]) == 0


# -- score_threshold / max_retries --------------------------------------------------------------

HOT = GenerationSettings(max_tokens=24, temperature=1.0, seed=11, ignore_eos=True)


class ScriptedScorer(Scorer):
    """Scores by attempt: ``script[k]`` is the list of scores of the k-th call (one example, two
    members); it records every candidate text it saw, by call."""

    def __init__(self, script):
        super().__init__()
        self.script = script
        self.seen: list[list[str]] = []

    def score(self, candidates):
        call = len(self.seen)
        self.seen.append([c.segment.text for c in candidates])
        return list(self.script[call % len(self.script)])


def test_below_threshold_resamples_then_keeps_the_best_attempt(members):
    """Round 0: attempts score max 0.2, 0.9, 0.1 -> attempt 1's gemma candidate is kept (its session
    had rolled it back, so it is appended again) and the next rounds continue from it."""
    scorer = ScriptedScorer([[0.1, 0.2], [0.3, 0.9], [0.1, 0.0]])
    r = run(members, examples=EXAMPLES[:1], scorer=scorer, settings=HOT, segment_tokens=4, max_rounds=2,
            score_threshold=1.0, max_retries=2)[0]
    assert len(scorer.seen) == 6  # 2 rounds x 3 attempts
    first = r.attribution[0]
    assert (first.model, first.score, first.text) == ("gemma", 0.9, scorer.seen[1][1])
    assert r.attribution[1].text == scorer.seen[4][1]
    assert len({tuple(s) for s in scorer.seen[:3]}) == 3  # resampling gave new candidates
    assert r.usage.generated_tokens == 6 * 2 * 4
    assert "".join(a.text for a in r.attribution) == r.output


def test_a_good_enough_round_is_not_resampled(members):
    scorer = ScriptedScorer([[0.5, 2.0]])
    r = run(members, examples=EXAMPLES[:1], scorer=scorer, settings=HOT, segment_tokens=4, max_rounds=3,
            score_threshold=1.0, max_retries=5)[0]
    assert len(scorer.seen) == 3 and all(a.model == "gemma" for a in r.attribution)


def test_greedy_never_resamples(members):
    scorer = ScriptedScorer([[0.1, 0.2]])
    run(members, examples=EXAMPLES[:1], scorer=scorer, segment_tokens=4, max_rounds=3, score_threshold=1.0)
    assert len(scorer.seen) == 3


def test_threshold_runs_are_reproducible_and_consistent(members):
    a = run(members, settings=HOT, segment_tokens=4, max_rounds=4, score_threshold=-0.5, max_retries=2)
    b = run(members, settings=HOT, segment_tokens=4, max_rounds=4, score_threshold=-0.5, max_retries=2)
    assert [r.output for r in a] == [r.output for r in b]
    assert_consistent(a, 24)
