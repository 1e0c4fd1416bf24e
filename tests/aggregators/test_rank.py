"""The ``rank`` aggregator (full and bubble) and the ``judge`` pairwise scorer, on tiny models."""

from __future__ import annotations

import math

import pytest
import torch

from ensemble_cli.aggregators.rank import RankAggregator, RankConfig, _Comparator, rank_bubble, rank_full
from ensemble_cli.core.components import Candidate, EnsembleContext, Member
from ensemble_cli.core.types import Example, GenerationSettings, Segment
from ensemble_cli.errors import UsageError
from ensemble_cli.scorers.pairwise import JudgeConfig, JudgeScorer, first_wins
from response_fixtures import EXAMPLES, LengthScorer, LongerWins
from tiny_models import make_generator, tiny_gemma3, tiny_llama


@pytest.fixture(scope="module")
def members():
    return [Member("llama", make_generator(*tiny_llama(), "llama")),
            Member("gemma", make_generator(*tiny_gemma3(), "gemma"))]


def cands(*texts, ex=EXAMPLES[0]):
    return [Candidate(ex, "", "m", Segment([1] * len(t), t, [], "stop")) for t in texts]


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_comparison_counts(n):
    group = cands(*["x" * (i * 7 % n + 1) + str(i) for i in range(n)])
    full, bubble = LongerWins(), LongerWins()
    rank_full([group], _Comparator(full, [group]))
    rank_bubble([group], _Comparator(bubble, [group]))
    assert full.asked == n * (n - 1)  # all ordered pairs
    assert bubble.asked == 2 * (n - 1)


def test_both_modes_find_the_longest_and_ties_keep_the_earliest():
    group = cands("aa", "aaaa", "a", "aaaa", "aaa")
    for fn in (rank_full, rank_bubble):
        (winner, _), = fn([group], _Comparator(LongerWins(), [group]))
        assert winner == 1
    points = _Comparator(LengthScorer(), [group])  # a pointwise scorer: 1 / 0.5 / 0 by score
    assert rank_full([group], points)[0] == (1, 3.5)
    assert rank_bubble([group], points)[0][0] == 1


def test_rank_aggregator_runs_both_modes_batched(members):
    settings = GenerationSettings(max_tokens=12)
    for mode in ("full", "bubble"):
        scorer = LongerWins()
        results = RankAggregator(RankConfig(mode=mode, n=2, temperature=1.0)).run(
            EXAMPLES, EnsembleContext(members, scorer, settings))
        assert scorer.asked == len(EXAMPLES) * (4 * 3 if mode == "full" else 2 * 3)
        for ex, r in zip(EXAMPLES, results, strict=True):
            assert r.attribution[0].text == r.output and r.usage.generated_tokens >= r.usage.completion_tokens
            assert len(r.output) == max(len(t) for t in scorer.texts[ex.id])  # the longest answer wins


def test_first_wins_is_a_stable_two_way_softmax():
    assert first_wins(math.log(0.3), math.log(0.1)) == pytest.approx(0.75)
    assert first_wins(-math.inf, -1.0) == 0.0 and first_wins(-1.0, -math.inf) == 1.0
    assert first_wins(-math.inf, -math.inf) == 0.5
    assert first_wins(-1000.0, 0.0) == pytest.approx(0.0)


def test_judge_reads_the_a_b_mass_of_the_member_model(members):
    judge = JudgeScorer(JudgeConfig(member="llama"))
    judge.bind(members)
    a, b = cands("Seven times eight is 56.", "It is 54.")
    p_ab, p_ba = judge.compare([(a, b), (b, a)])
    gen = members[0].generator
    tok = gen.tokenizer
    ids = gen.encode_prompt(judge.prompt_for(a, b))
    assert "Response A:\nSeven times eight is 56." in judge.prompt_for(a, b).messages[0]["content"]
    with torch.inference_mode():
        logp = torch.log_softmax(gen.loaded.model(input_ids=torch.tensor([ids])).logits[0, -1].float(), -1)

    def mass(letter):
        spellings = {tok.encode(s, add_special_tokens=False)[0] for s in (letter, " " + letter)}
        return torch.logsumexp(logp[list(spellings)], 0).item()

    assert p_ab == pytest.approx(first_wins(mass("A"), mass("B")), abs=1e-4)
    assert 0.0 < p_ab < 1.0 and 0.0 < p_ba < 1.0
    s = judge.score([a, b])  # pointwise fallback: mean both-order win probability
    assert s[0] == pytest.approx((p_ab + 1 - p_ba) / 2, abs=1e-6) and s[0] + s[1] == pytest.approx(1.0)


def test_judge_member_must_exist(members):
    with pytest.raises(UsageError, match="'phi' is not a member"):
        JudgeScorer(JudgeConfig(member="phi")).bind(members)


def test_rank_with_judge_end_to_end(members):
    judge = JudgeScorer(JudgeConfig(member="gemma"))
    judge.bind(members)
    ex = [Example("q", [{"role": "user", "content": "What is 2 + 2?"}])]
    (r,) = RankAggregator(RankConfig(mode="bubble")).run(ex, EnsembleContext(members, judge, GenerationSettings(8)))
    assert r.attribution[0].model in ("llama", "gemma") and 0.0 <= r.attribution[0].score <= 1.0
