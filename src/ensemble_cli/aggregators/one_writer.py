"""Segment methods where one member writes each round (``loop``, ``random``, ``progressive``).

Per round, each unfinished example has one writer (the method's ``writer``); examples are grouped
by writer so each member makes at most one batched ``generate`` call per round. No scorer is
involved: the writer's segment is the round's text (``score`` is ``None`` in the attribution).
A method may shorten a segment (``cut``: ``progressive`` ends it right after a switch string) and
cap its length (``cap``: ``progressive`` stops exactly at a length threshold).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

from ..core.components import Aggregator, EnsembleContext
from ..core.types import Example, Result
from .rounds import Pick, RoundsConfig, RowState, SegmentRounds, Stop


class OneWriterAggregator(Aggregator):
    """Base of the one-writer-per-round methods; subclasses choose the writer."""

    Config = RoundsConfig
    config: RoundsConfig

    def run(self, examples: Sequence[Example], ctx: EnsembleContext) -> list[Result]:
        return SegmentRounds(examples, ctx, self.config).run(self._play)

    @abstractmethod
    def writer(self, st: RowState, rnd: int, n_members: int, ctx: EnsembleContext) -> int:
        """Index (into ``ctx.members``) of the member that writes round ``rnd`` of this example."""

    def cap(self, st: RowState, writer: int, n_members: int) -> int | None:
        """At most this many tokens in this round's segment (``None``: no extra limit)."""
        return None

    def cut(self, st: RowState, writer: int, text: str, n_members: int) -> int | None:
        """Where this round's segment ``text`` must end (``None``: keep it whole)."""
        return None

    def _play(self, rounds: SegmentRounds, rnd: int, rows: list[int]) -> dict[int, Pick | Stop]:
        n = len(rounds.members)
        groups: dict[int, list[int]] = {}
        for row in rows:
            groups.setdefault(self.writer(rounds.state(row), rnd, n, rounds.ctx), []).append(row)
        picks: dict[int, Pick | Stop] = {}
        for w in sorted(groups):
            group = groups[w]
            budgets = []
            for row in group:
                cap = self.cap(rounds.state(row), w, n)
                budget = rounds.budget(row)
                budgets.append(budget if cap is None else max(1, min(budget, cap)))
            segs = rounds.generate(w, group, budgets)
            for row in group:
                seg = segs[row]
                end = self.cut(rounds.state(row), w, seg.text, n)
                if end is not None and end < len(seg.text):
                    tokens = rounds.truncate(w, row, seg, end)
                    picks[row] = Pick(w, seg.text[:end], tokens, "length")
                else:
                    picks[row] = Pick(w, seg.text, len(seg.token_ids), seg.finish_reason, seg.stopped_by)
        return picks
