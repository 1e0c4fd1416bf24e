"""``core.sampling.draw``: one uniform, the inverse CDF; the distribution it draws from is the weights'."""

from __future__ import annotations

import pytest
import torch
from scipy.stats import chisquare

from ensemble_cli.core.sampling import draw


def test_draws_follow_the_weights_and_never_a_zero():
    weights = torch.tensor([0.0, 3.0, 0.0, 1.0, 6.0, 0.0])  # unnormalised, zeros at both ends and inside
    gen = torch.Generator().manual_seed(7)
    n = 4000
    counts = torch.zeros(len(weights))
    for _ in range(n):
        counts[draw(weights, gen)] += 1
    assert counts[weights == 0].sum() == 0
    nz = weights > 0
    assert chisquare(counts[nz].tolist(), (weights[nz] / weights.sum() * n).tolist()).pvalue > 1e-3


def test_a_seeded_stream_draws_the_same_and_a_large_vocabulary_works():
    logits = torch.randn(262_144, generator=torch.Generator().manual_seed(1)) * 4
    p = torch.softmax(logits, -1)
    a = [draw(p, torch.Generator().manual_seed(3)) for _ in range(3)]
    b = [draw(p, torch.Generator().manual_seed(3)) for _ in range(3)]
    assert a == b and all(0 <= i < len(p) for i in a)
    one_hot = torch.zeros(262_144)
    one_hot[-1] = 1.0
    assert draw(one_hot, None) == 262_143  # the last entry is reachable


def test_weights_that_sum_to_zero_are_an_error():
    with pytest.raises(ValueError, match="sum to 0"):
        draw(torch.zeros(4), None)
