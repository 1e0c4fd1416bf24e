"""Wilson interval, exact McNemar and the paired-difference interval against published and hand-computed values."""

from __future__ import annotations

import math

import pytest

from ensemble_cli.evaluation.stats import Accuracy, mcnemar_exact, paired_difference_interval, wilson_interval


def test_wilson_matches_newcombe_1998() -> None:
    # Newcombe (1998), Stat. Med. 17:857, Table I: 81/263 -> Wilson score interval 0.2553 to 0.3662.
    low, high = wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)


def test_wilson_closed_form_and_edges() -> None:
    # Closed form for 0/10: (0, z^2 / (n + z^2)) with z = 1.959964.
    z2 = 1.959963984540054**2
    low, high = wilson_interval(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(z2 / (10 + z2), rel=1e-9)
    low, high = wilson_interval(10, 10)
    assert high == pytest.approx(1.0) and low == pytest.approx(10 / (10 + z2), rel=1e-9)
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


@pytest.mark.parametrize(
    ("a_only", "b_only", "expected"),
    [
        (1, 7, 2 * (1 + 8) / 2**8),  # 2 * P(X <= 1), X ~ Bin(8, 1/2) = 0.0703125
        (7, 1, 2 * (1 + 8) / 2**8),  # symmetric
        (0, 5, 2 / 2**5),  # 0.0625: five one-sided discordant pairs are not significant
        (0, 6, 2 / 2**6),  # 0.03125
        (3, 3, 1.0),
        (0, 0, 1.0),  # no discordant pairs: no evidence either way
    ],
)
def test_mcnemar_exact(a_only: int, b_only: int, expected: float) -> None:
    assert mcnemar_exact(a_only, b_only) == pytest.approx(expected, rel=1e-12)


def test_accuracy_to_dict() -> None:
    acc = Accuracy.of(81, 263)
    d = acc.to_dict()
    assert d["correct"] == 81 and d["total"] == 263 and d["accuracy"] == round(81 / 263, 6)
    assert d["ci95"] == [round(acc.low, 6), round(acc.high, 6)]
    assert Accuracy.of(0, 0).to_dict() == {"correct": 0, "total": 0, "accuracy": None, "ci95": [None, None]}


def test_paired_difference_matches_fagerland() -> None:
    # Fagerland, Lydersen & Laake (2017) ch. 8, Cavo et al. (2012): 59, 6 / 16, 80 -> -0.0621 (-0.1186 to -0.0046)
    low, high = paired_difference_interval(59, 6, 16, 80)
    assert (round(low, 4), round(high, 4)) == (-0.1186, -0.0046)
    assert paired_difference_interval(59, 16, 6, 80) == pytest.approx((-high, -low))  # A and B swapped
    low, high = paired_difference_interval(5, 0, 0, 5)  # no discordant pair: centred on 0, not of zero width
    assert low == pytest.approx(-high) and high > 0.1
    assert paired_difference_interval(0, 10, 0, 0)[1] == 1.0  # never past 1
    assert all(math.isnan(x) for x in paired_difference_interval(0, 0, 0, 0))
    with pytest.raises(ValueError):
        paired_difference_interval(1, -1, 0, 0)
