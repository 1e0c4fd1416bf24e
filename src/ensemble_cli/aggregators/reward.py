"""The ``reward`` aggregator: reward-guided segment ensembling (the seed's "simple" method).

Each round, every selected member writes up to ``segment_tokens`` tokens from the shared context
(all examples of the batch at once, one batched ``generate`` per member); the scorer scores every
candidate; the best one is kept. Its writer keeps its own tokens; every other member rolls its
candidate back and appends the winning text to its session. Rounds, budgets, endings, attribution
and streaming are the shared segment-round loop's (``rounds.py``).

``score_threshold``: when the best candidate of a round scores below it, the whole round is
resampled (every member writes again for that example), up to ``max_retries`` times; then the
best candidate of all attempts is kept (earliest attempt on ties). It works with any scorer, since
it only compares the scorer's numbers. Under greedy decoding (``temperature: 0``) a resample
would reproduce the same candidates, so no retries are made: the threshold then costs nothing
and changes nothing. Retried tokens count in ``usage.generated_tokens``.

Repeated-segment guard: a candidate whose text equals the previous round's chosen segment is
passed over in favour of the best candidate that does not repeat it; if every candidate repeats
(in every attempt), the example stops there (``stop_cause: repetition``, ``finish_reason:
stop``) instead of looping until the token budget is gone.

Ties go to the member listed first in the recipe.

Every round's candidates and their scores go to the trace (``summary.trace``, see
``aggregators.trace``); with resamples, the candidates of every attempt, each with its ``attempt``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import Field

from ..core.components import Aggregator, Candidate, EnsembleContext
from ..core.types import Example, Result, Segment
from .rounds import Pick, RoundsConfig, RowState, SegmentRounds, Stop
from .trace import TraceCandidate


class RewardConfig(RoundsConfig):
    repeat_guard: bool = Field(True, description="never pick a segment identical to the previous one")
    score_threshold: float | None = Field(
        None, description="resample a round whose best score is below this (needs temperature > 0)"
    )
    max_retries: int = Field(2, ge=0, description="resamples of a round below score_threshold")


@dataclass
class _Best:
    score: float
    writer: int
    segment: Segment
    attempt: int


class RewardAggregator(Aggregator):
    description = "each round every model writes a segment; the scorer's best one is kept"
    Config = RewardConfig
    config: RewardConfig
    needs_scorer = True

    def run(self, examples: Sequence[Example], ctx: EnsembleContext) -> list[Result]:
        if ctx.scorer is None:
            raise ValueError("the reward aggregator needs a scorer")
        return SegmentRounds(examples, ctx, self.config).run(self._play)

    def _play(self, rounds: SegmentRounds, rnd: int, rows: list[int]) -> dict[int, Pick | Stop]:
        cfg, ctx = self.config, rounds.ctx
        assert ctx.scorer is not None
        n = len(rounds.members)
        retry = cfg.score_threshold is not None and not rounds.settings.greedy
        attempts = 1 + (cfg.max_retries if retry else 0)
        best: dict[int, _Best] = {}
        picks: dict[int, Pick | Stop] = {}
        tried: dict[int, list[TraceCandidate]] = {row: [] for row in rows}  #: the trace, attempt by attempt
        pending = list(rows)
        for attempt in range(attempts):
            budgets = [rounds.budget(row) for row in pending]
            cands = [rounds.generate(j, pending, budgets) for j in range(n)]
            flat = [
                Candidate(rounds.state(row).example, rounds.state(row).output, m.name, cands[j][row])
                for row in pending
                for j, m in enumerate(rounds.members)
            ]
            scores = ctx.scorer.score(flat)
            again = []
            for k, row in enumerate(pending):
                segs = [cands[j][row] for j in range(n)]
                row_scores = scores[k * n : (k + 1) * n]
                extra = {"attempt": attempt} if attempts > 1 else {}
                tried[row] += [TraceCandidate(m.name, segs[j].text, row_scores[j], dict(extra))
                               for j, m in enumerate(rounds.members)]
                winner = self._pick(rounds.state(row), segs, row_scores)
                if winner is not None and (row not in best or row_scores[winner] > best[row].score):
                    best[row] = _Best(row_scores[winner], winner, segs[winner], attempt)
                b = best.get(row)
                good = b is not None and (cfg.score_threshold is None or b.score >= cfg.score_threshold)
                if not good and attempt < attempts - 1:
                    for j in range(n):
                        rounds.rollback(j, row, segs[j])
                    again.append(row)
                    continue
                held = b is not None and b.attempt == attempt
                for j in range(n):
                    if not (held and b is not None and j == b.writer):
                        rounds.rollback(j, row, segs[j])
                if b is None:
                    picks[row] = Stop("repetition", tried[row])
                else:
                    seg = b.segment
                    picks[row] = Pick(
                        b.writer, seg.text, len(seg.token_ids), seg.finish_reason, seg.stopped_by, b.score, held,
                        candidates=tried[row], chosen=b.attempt * n + b.writer,
                    )
            pending = again
            if not pending:
                break
        return picks

    def _pick(self, st: RowState, segs: list[Segment], scores: list[float]) -> int | None:
        order = sorted(range(len(segs)), key=lambda j: (-scores[j], j))
        if not self.config.repeat_guard or not st.attribution:
            return order[0]
        previous = st.attribution[-1].text
        for j in order:
            if not previous or segs[j].text != previous:
                return j
        return None
