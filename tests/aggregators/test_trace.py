"""The per-round trace (``aggregators.trace``) of the methods that choose among scored candidates, on
tiny models: every candidate with the score the scorer gave it, exactly one chosen per round, and
that one is the attributed piece of the round."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ensemble_cli.aggregators.best_of_n import BestOfNAggregator, BestOfNConfig
from ensemble_cli.aggregators.loop import LoopAggregator
from ensemble_cli.aggregators.rank import RankAggregator, RankConfig
from ensemble_cli.aggregators.reward import RewardAggregator, RewardConfig
from ensemble_cli.aggregators.rounds import RoundsConfig
from ensemble_cli.aggregators.trace import TEXT_CHARS, TraceCandidate, round_record
from ensemble_cli.core.components import Candidate, EnsembleContext
from ensemble_cli.core.types import GenerationSettings
from ensemble_cli.scorers.logprob import LogprobScorer
from response_fixtures import EXAMPLES, LengthScorer, LongerWins


class RecordingScorer(LogprobScorer):
    """The logprob scorer, remembering the score it gave each (example, prefix, member, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.given: dict[tuple[str, str, str, str], float] = {}

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        scores = super().score(candidates)
        for c, s in zip(candidates, scores, strict=True):
            self.given[(c.example.id, c.prefix, c.member, c.segment.text)] = s
        return scores


def _same(recorded: float | None, given: float) -> bool:
    return recorded is None if not math.isfinite(given) else recorded == round(given, 6)


def test_reward_trace_lists_every_candidate_with_its_score_and_the_attributed_one_chosen(tiny_members):
    scorer = RecordingScorer()
    ctx = EnsembleContext(tiny_members, scorer, GenerationSettings(max_tokens=24))
    results = RewardAggregator(RewardConfig(segment_tokens=4, max_rounds=8)).run(EXAMPLES, ctx)
    names = [m.name for m in tiny_members]
    for ex, r in zip(EXAMPLES, results, strict=True):
        trace = r.summary["trace"]
        kept = [t for t in trace if "stop" not in t]
        assert [t["round"] for t in kept] == [a.round for a in r.attribution]
        prefix = ""
        for record, piece in zip(kept, r.attribution, strict=True):
            cands = record["candidates"]
            assert [c["model"] for c in cands] == names  # every member's candidate, none left out
            chosen = [c for c in cands if c["chosen"]]
            assert len(chosen) == 1
            assert chosen[0]["model"] == piece.model and chosen[0]["text"] == piece.text[:TEXT_CHARS]
            assert chosen[0]["chars"] == len(piece.text) and _same(chosen[0]["score"], piece.score)
            for c in cands:  # the text is the whole candidate here (segments are short): look its score up
                assert c["chars"] == len(c["text"])
                assert _same(c["score"], scorer.given[(ex.id, prefix, c["model"], c["text"])])
            prefix += piece.text
        for record in trace[len(kept):]:  # the repeated-segment guard ended it: nothing chosen
            assert record["stop"] == "repetition" and not any(c["chosen"] for c in record["candidates"])


def test_reward_resamples_are_in_the_trace_with_their_attempt(tiny_members):
    settings = GenerationSettings(max_tokens=8, temperature=1.0, seed=3)
    cfg = RewardConfig(segment_tokens=4, max_rounds=2, score_threshold=1e9, max_retries=2)  # never good enough
    results = RewardAggregator(cfg).run(EXAMPLES[:1], EnsembleContext(tiny_members, LengthScorer(), settings))
    first = results[0].summary["trace"][0]
    assert [c["attempt"] for c in first["candidates"]] == [0, 0, 1, 1, 2, 2]
    chosen = [c for c in first["candidates"] if c["chosen"]]
    assert len(chosen) == 1 and chosen[0]["text"] == results[0].attribution[0].text
    assert chosen[0]["score"] == max(c["score"] for c in first["candidates"])  # the best of all attempts


def test_best_of_n_and_rank_report_their_one_round(tiny_members):
    settings = GenerationSettings(max_tokens=10, temperature=1.0, seed=5)
    scorer = LengthScorer()
    bon = BestOfNAggregator(BestOfNConfig(n=2)).run(EXAMPLES[:2], EnsembleContext(tiny_members, scorer, settings))
    for r in bon:
        (record,) = r.summary["trace"]
        cands = record["candidates"]
        assert [(c["model"], c["sample"]) for c in cands] == [(m.name, k) for m in tiny_members for k in range(2)]
        assert [c["score"] for c in cands] == [float(c["chars"]) for c in cands]  # LengthScorer: its length
        assert [c["score"] for c in cands] == [c["score"] for c in r.summary["candidates"]]
        (chosen,) = [c for c in cands if c["chosen"]]
        assert chosen["text"] == r.output[:TEXT_CHARS] and chosen["model"] == r.attribution[0].model
        assert all("answer" in c for c in cands)
    ranked = RankAggregator(RankConfig(mode="full", n=2)).run(
        EXAMPLES[:2], EnsembleContext(tiny_members, LongerWins(), settings))
    for r in ranked:
        (record,) = r.summary["trace"]
        (chosen,) = [c for c in record["candidates"] if c["chosen"]]
        assert chosen["text"] == r.output[:TEXT_CHARS] and chosen["score"] == round(r.attribution[0].score, 6)
        assert chosen["score"] == max(c["score"] for c in record["candidates"])
        assert len(record["candidates"]) == 4


def test_one_writer_methods_report_no_trace(tiny_members):
    ctx = EnsembleContext(tiny_members, None, GenerationSettings(max_tokens=8))
    results = LoopAggregator(RoundsConfig(segment_tokens=4, max_rounds=2)).run(EXAMPLES[:1], ctx)
    assert "trace" not in results[0].summary


def test_records_stay_small_and_json_safe():
    long = "x" * 1000
    record = round_record(3, [TraceCandidate("a", long, float("-inf")), TraceCandidate("b", "hi", 0.1234567891)], 1)
    a, b = record["candidates"]
    assert len(a["text"]) == TEXT_CHARS and a["chars"] == 1000 and a["score"] is None and not a["chosen"]
    assert b == {"model": "b", "text": "hi", "chars": 2, "score": 0.123457, "chosen": True}
    assert record["round"] == 3 and "stop" not in record
