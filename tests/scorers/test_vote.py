"""The ``vote`` scorer on a hand-made table of answers."""

from __future__ import annotations

import pytest

from ensemble_cli.core.components import Candidate
from ensemble_cli.core.types import Example, Segment
from ensemble_cli.scorers.vote import VoteConfig, VoteScorer

Q = Example("q", [{"role": "user", "content": "What is 1 divided by 2?"}])
R = Example("r", [{"role": "user", "content": "What is 6 times 7?"}])


def cand(text, ex=Q, prefix=""):
    return Candidate(ex, prefix, "m", Segment([1], text, [-1.0], "stop"))


# (text, score): 1/2, 0.5 and \frac{1}{2} are one answer held by four candidates (3 others agree each);
# the last box counts, so "\boxed{3} ... \boxed{0.5}" votes 0.5 and "\boxed{1/2} ... \boxed{3}" votes 3.
TABLE = [
    ("So the result is 1/2.", 4),
    ("Dividing gives 0.5", 4),
    ("The answer is $\\frac{1}{2}$.", 4),
    ("First I thought \\boxed{3}, but actually \\boxed{0.5}.", 4),
    ("\\boxed{\\frac{1}{2}}", 4),
    ("Maybe \\boxed{1/2}? No: \\boxed{3}", 1),
    ("It is 3", 1),
    ("I do not know.", -1),
    ("", -1),
]


def test_table():
    got = VoteScorer().score([cand(t) for t, _ in TABLE])
    assert got == [float(s) for _, s in TABLE]


def test_groups_by_example_and_whole_response():
    cands = [cand("42", R), cand(" is \\boxed{42}", R, prefix="The product"), cand("0.5"), cand("1/2")]
    assert VoteScorer().score(cands) == [0.0, 0.0, 1.0, 1.0]  # different prefixes: different groups
    same_prefix = [cand("\\boxed{42}", R, "So"), cand(" 42", R, "So"), cand(" 41", R, "So")]
    assert VoteScorer().score(same_prefix) == [1.0, 1.0, 0.0]


def test_missing_score_is_configurable_and_two_missing_never_agree():
    assert VoteScorer(VoteConfig(missing=-5)).score([cand("no idea"), cand("none")]) == [-5.0, -5.0]
    assert VoteScorer().score([]) == []


@pytest.mark.parametrize("a,b", [("\\boxed{1,234}", "1234"), ("$\\frac{3}{4}$", "0.75"), ("#### 18", "18 dollars")])
def test_equivalent_forms(a, b):
    assert VoteScorer().score([cand(a), cand(b)]) == [1.0, 1.0]


def voter(member, text, ex=Q):
    return Candidate(ex, "", member, Segment([1], text, [-1.0], "stop"))


def test_weighted_vote_lets_two_strong_samples_outvote_three_weak_ones():
    cands = [voter("big", "#### 7"), voter("big", "#### 7"),
             voter("small", "#### 9"), voter("small", "#### 9"), voter("small", "#### 9")]
    assert VoteScorer().score(cands) == [1.0, 1.0, 2.0, 2.0, 2.0]  # plain maj@5: the weak majority wins
    weighted = VoteScorer(VoteConfig(weights={"big": 1.6})).score(cands)
    assert weighted == pytest.approx([2.2, 2.2, 2.0, 2.0, 2.0])
    alone = VoteScorer(VoteConfig(weights={"small": 0.1})).score([voter("small", "5"), voter("big", "no idea")])
    assert alone == pytest.approx([-0.9, -1.0])  # a missing answer stays below any answer, however light


def test_weights_must_name_models_and_be_positive():
    from pydantic import ValidationError

    assert VoteScorer.recipe_problems(VoteConfig(weights={"bgi": 2.0}), ["big", "small"])[0].path == "weights.bgi"
    with pytest.raises(ValidationError):
        VoteConfig(weights={"big": 0})
