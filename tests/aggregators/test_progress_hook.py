"""``ctx.progress``: every aggregator family reports each example after every round, chunk or token
step (not only when the batch returns), with its output tokens so far, so ``ensemble run`` can move
its display within a batch. Tiny random-weight models, real tokenizers."""

from __future__ import annotations

from collections import defaultdict

import pytest

from ensemble_cli.aggregators.best_of_n import BestOfNAggregator, BestOfNConfig
from ensemble_cli.aggregators.reward import RewardAggregator, RewardConfig
from ensemble_cli.aggregators.single import SingleAggregator, SingleConfig
from ensemble_cli.aggregators.union import UnionAggregator
from ensemble_cli.core.components import EnsembleContext, Member
from ensemble_cli.core.events import RowProgress
from ensemble_cli.core.types import Example, GenerationSettings
from ensemble_cli.scorers.logprob import LogprobScorer
from tiny_models import make_generator, tiny_llama

EXAMPLES = [
    Example("p", [{"role": "user", "content": "Count from one to twenty, slowly."}]),
    Example("q", [{"role": "user", "content": "Name a colour."}]),
]
SETTINGS = GenerationSettings(max_tokens=12, ignore_eos=True)  # no early EOS: every round happens


@pytest.fixture(scope="module")
def llamas() -> list[Member]:
    """Two tiny Llamas sharing SmolLM2's tokenizer (a cheap union vocabulary)."""
    return [Member("a", make_generator(*tiny_llama(1), "a")), Member("b", make_generator(*tiny_llama(2), "b"))]


def collect(aggregator, members, scorer=None):  # noqa: ANN001, ANN201 - test helper
    events: dict[int, list[RowProgress]] = defaultdict(list)
    ctx = EnsembleContext(members, scorer, SETTINGS, on_progress=lambda i, p: events[i].append(p))
    return aggregator.run(EXAMPLES, ctx), events


def test_segment_rounds_report_every_round_with_output_tokens(tiny_members):
    results, events = collect(RewardAggregator(RewardConfig(segment_tokens=4, max_rounds=5)), tiny_members,
                              LogprobScorer())
    for i, res in enumerate(results):
        assert [p.rounds for p in events[i]] == list(range(1, res.rounds + 1))
        assert res.rounds == 3  # 12 tokens in 4-token segments
        tokens = [p.tokens for p in events[i]]
        assert tokens == sorted(tokens) and tokens[0] > 0
        assert tokens[-1] == res.usage.completion_tokens


def test_whole_answer_writer_reports_every_chunk(llamas):
    results, events = collect(SingleAggregator(SingleConfig(chunk_tokens=5)), llamas[:1])
    for i, res in enumerate(results):
        assert [p.rounds for p in events[i]] == [1, 2, 3]  # 5 + 5 + 2 tokens
        assert [p.tokens for p in events[i]] == [5, 10, 12] == [5, 10, res.usage.completion_tokens]


def test_candidates_report_chunks_before_an_answer_is_chosen(llamas):
    results, events = collect(BestOfNAggregator(BestOfNConfig(n=1, chunk_tokens=5)), llamas, LogprobScorer())
    for i in range(len(EXAMPLES)):
        # three chunks per member, nothing chosen yet: 0 output tokens while the candidates are written
        assert [p.rounds for p in events[i]] == [1, 2, 3, 1, 2, 3]
        assert {p.tokens for p in events[i]} == {0}
    assert all(r.usage.completion_tokens > 0 for r in results)


def test_token_level_reports_every_step(llamas):
    results, events = collect(UnionAggregator(UnionAggregator.Config()), llamas)
    for i, res in enumerate(results):
        assert [p.rounds for p in events[i]] == list(range(1, 13))
        assert [p.tokens for p in events[i]] == list(range(1, 13))
        assert res.usage.completion_tokens == 12


def test_no_hook_no_calls(llamas):
    """Without ``on_progress`` the context's ``progress`` is a no-op (the server passes none)."""
    ctx = EnsembleContext(llamas[:1], None, SETTINGS)
    ctx.progress(0, 3, 1)  # must not raise
    assert SingleAggregator(SingleConfig(chunk_tokens=5)).run(EXAMPLES, ctx)
