"""The shared segment-round loop: streaming (``ctx.emit``) and cancellation for every segment method."""

from __future__ import annotations

import pytest

from aggregator_checks import EXAMPLES, assert_consistent
from ensemble_cli.aggregators.loop import LoopAggregator
from ensemble_cli.aggregators.progressive import ProgressiveAggregator, ProgressiveConfig
from ensemble_cli.aggregators.random import RandomAggregator, RandomConfig
from ensemble_cli.aggregators.reward import RewardAggregator, RewardConfig
from ensemble_cli.aggregators.rounds import RoundsConfig
from ensemble_cli.core.components import EnsembleContext
from ensemble_cli.core.types import GenerationSettings
from ensemble_cli.scorers.logprob import LogprobScorer

METHODS = {
    "reward": lambda: RewardAggregator(RewardConfig(segment_tokens=4, max_rounds=6)),
    "loop": lambda: LoopAggregator(RoundsConfig(segment_tokens=4, max_rounds=6)),
    "random": lambda: RandomAggregator(RandomConfig(segment_tokens=4, max_rounds=6)),
    "progressive": lambda: ProgressiveAggregator(ProgressiveConfig(segment_tokens=4, length_thresholds=[6])),
}
SETTINGS = GenerationSettings(max_tokens=20, ignore_eos=True, temperature=1.0, seed=3)


@pytest.mark.parametrize("method", METHODS)
def test_emitted_pieces_are_the_output_in_order(tiny_members, method):
    seen: dict[int, list[str]] = {}
    ctx = EnsembleContext(tiny_members, LogprobScorer(), SETTINGS,
                          on_text=lambda i, text: seen.setdefault(i, []).append(text))
    results = METHODS[method]().run(EXAMPLES, ctx)
    assert_consistent(results, 20)
    for i, r in enumerate(results):
        assert "".join(seen.get(i, [])) == r.output
        assert seen[i] == [a.text for a in r.attribution if a.text]


@pytest.mark.parametrize("method", METHODS)
def test_cancelled_example_stops_and_keeps_its_partial_output(tiny_members, method):
    seen: dict[int, list[str]] = {}
    ctx = EnsembleContext(tiny_members, LogprobScorer(), SETTINGS,
                          on_text=lambda i, text: seen.setdefault(i, []).append(text),
                          cancelled=lambda i: i == 1 and bool(seen.get(1)))
    results = METHODS[method]().run(EXAMPLES, ctx)
    cancelled = results[1]
    assert (cancelled.finish_reason, cancelled.stop_cause) == ("stop", "cancelled")
    assert cancelled.rounds == 1 and cancelled.output == seen[1][0]
    assert all(r.stop_cause == "max_tokens" for r in (results[0], results[2]))
    assert_consistent(results, 20)
