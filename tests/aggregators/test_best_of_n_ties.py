"""The ``best-of-n`` tie rule on hand-made answers: ended beats cut off, then first or most confident."""

from __future__ import annotations

import pytest

from ensemble_cli.aggregators.best_of_n import BestOfNAggregator, BestOfNConfig, pick, samples_of
from ensemble_cli.aggregators.full_answers import Answer
from ensemble_cli.core.components import Candidate
from ensemble_cli.core.types import Example, Segment
from ensemble_cli.scorers.vote import VoteScorer

Q = Example("q", [{"role": "user", "content": "What is 3 + 4?"}])


def ans(text, logprob=-1.0, finish="stop", member="m", sample=0):
    return Answer(member, sample, Segment([1, 2], text, [logprob, logprob], finish))


def test_a_cut_off_answer_loses_a_tie_whatever_the_order():
    pool = [ans("3 + 4 is 7, and then", finish="length"), ans("#### 9")]
    assert pick(pool, [0.0, 0.0]) == 1
    assert pick(pool, [1.0, 0.0]) == 0  # only ties: a higher score still wins


@pytest.mark.parametrize("tie_break,winner", [("first", 0), ("logprob", 2)])
def test_tie_break_first_or_most_confident(tie_break, winner):
    pool = [ans("#### 7", -0.9), ans("#### 8", -0.5, finish="length"), ans("#### 9", -0.2), ans("#### 6", -0.4)]
    assert pick(pool, [1.0, 1.0, 1.0, 1.0], tie_break) == winner


def test_an_answer_without_a_final_number_never_wins_the_vote():
    pool = [ans("I am not sure how to solve this."), ans("#### 7", -3.0, finish="length"), ans("so it is 12")]
    scores = VoteScorer().score([Candidate(Q, "", a.member, a.segment) for a in pool])
    assert scores == [-1.0, 0.0, 0.0]
    assert pick(pool, scores) == 2  # the lone answers tie; the cut-off one loses; the answerless one is last
    assert pick(pool[:2], scores[:2]) == 1


def test_per_member_sample_counts_name_every_model():
    assert samples_of({"big": 2, "small": 3}, "small") == 3 and samples_of(4, "any") == 4
    problems = BestOfNAggregator.recipe_problems(BestOfNConfig(n={"big": 2, "smal": 3}), ["big", "small"])
    assert [p.path for p in problems] == ["n.smal", "n"]
    assert "'small'" in problems[1].message
    assert BestOfNAggregator.recipe_problems(BestOfNConfig(n={"big": 2, "small": 3}), ["big", "small"]) == []
