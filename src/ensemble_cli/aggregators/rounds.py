"""The segment-round loop shared by the segment-level aggregators (``reward``, ``loop``, ``random``,
``progressive``).

Every one of them works the same way: each member opens one session batch over the examples;
round after round, some member(s) write a segment for every unfinished example, one segment is
chosen per example, the chosen text joins the output, and every *other* member appends it to its
session (only the new text and a short tail are tokenized; the context is never re-encoded). The
methods differ only in who writes a round and how the segment is chosen, so that part is a
callback (``play``) and this module owns everything else:

- budgets (``segment_tokens``, never past ``generation.max_tokens``),
- honest endings: ``stop`` when the chosen segment ended on EOS or a stop string (``stop_cause``
  says which), ``length`` when the output reached ``max_tokens`` (``max_tokens``) or the last
  round ran (``max_rounds``); ``stop`` with ``repetition`` or ``cancelled`` when the method or
  the caller ends an example early,
- exact attribution (the attributed texts concatenate to the output), usage counts,
- streaming (``ctx.emit`` as soon as a segment is final) and cancellation (``ctx.is_cancelled``,
  checked before every round; the partial output is kept),
- progress (``ctx.progress`` for every example that took part in a round, after the round),
- the per-round trace (``aggregators.trace``): a method that scored candidates hands them over
  with its ``Pick`` / ``Stop`` (``candidates``, ``chosen``) and the loop records the round in
  ``summary["trace"]``.

All state is per call (``RowState``), so one aggregator instance can serve concurrent requests.

Limitation (shared with every segment method): a stop string is found inside one segment, not
across the boundary between two segments, because text already emitted is never taken back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from ..core.components import ComponentConfig, EnsembleContext, Member
from ..core.sessions import SessionBatch
from ..core.types import Attribution, Example, FinishReason, Result, Segment, Usage
from .trace import TraceCandidate, round_record


class RoundsConfig(ComponentConfig):
    """Settings every segment-round method has."""

    segment_tokens: int = Field(32, gt=0, description="tokens a member writes per round")
    max_rounds: int = Field(16, gt=0, description="rounds before the example stops with 'length'")


@dataclass
class RowState:
    """One example's progress within one call."""

    example: Example
    index: int = 0  #: position in this call's examples (for ``ctx.emit`` / ``ctx.is_cancelled``)
    output: str = ""
    tokens: int = 0  #: output tokens, each segment counted in its writer's tokenizer
    attribution: list[Attribution] = field(default_factory=list)
    finish: FinishReason | None = None
    cause: str | None = None
    rounds: int = 0
    generated: int = 0  #: every token sampled for this example, rejected ones included
    prompt_tokens: int = 0
    stage: int = 0  #: a method's own position (``progressive``: the member writing now)
    trace: list[dict[str, Any]] = field(default_factory=list)  #: ``aggregators.trace`` records, per round

    def result(self) -> Result:
        return Result(
            id=self.example.id,
            output=self.output,
            finish_reason=self.finish or "length",
            attribution=self.attribution,
            usage=Usage(self.prompt_tokens, self.tokens, self.generated),
            rounds=self.rounds,
            stop_cause=self.cause or "max_rounds",
            summary={"trace": self.trace} if self.trace else {},
        )


@dataclass
class Pick:
    """The segment chosen for one example in one round.

    ``held``: the writer's session already holds exactly ``text`` (its own tokens were kept);
    when False (a candidate from an earlier, rolled-back attempt) the text is appended there too.
    """

    writer: int  #: index into ``ctx.members``
    text: str
    tokens: int
    finish_reason: FinishReason
    stopped_by: str | None = None
    score: float | None = None
    held: bool = True
    #: every candidate the method scored for this round (for the trace); ``chosen`` indexes the kept one
    candidates: list[TraceCandidate] | None = None
    chosen: int | None = None


@dataclass
class Stop:
    """The example ends this round without new text (``cause``: e.g. ``repetition``)."""

    cause: str
    candidates: list[TraceCandidate] | None = None  #: what was scored and passed over (for the trace)


#: ``play(rounds, rnd, rows)`` → for every session row in ``rows``, its ``Pick`` or ``Stop``.
Play = Callable[["SegmentRounds", int, list[int]], dict[int, Pick | Stop]]


class SegmentRounds:
    """The sessions and row states of one ``Aggregator.run`` call (see the module docstring).

    Session rows are renumbered as examples finish: ``self.active[row]`` is the example index of
    session row ``row``, and ``state(row)`` its ``RowState``.
    """

    def __init__(self, examples: Sequence[Example], ctx: EnsembleContext, config: RoundsConfig) -> None:
        self.ctx = ctx
        self.config = config
        self.settings = ctx.settings
        self.members: list[Member] = list(ctx.members)
        self.sessions: list[SessionBatch] = [
            m.generator.open(examples, ctx.settings, salt=m.name) for m in self.members
        ]
        self.states = [
            RowState(ex, i, prompt_tokens=self.sessions[0].prompt_length(i)) for i, ex in enumerate(examples)
        ]
        self.active = list(range(len(examples)))

    def state(self, row: int) -> RowState:
        return self.states[self.active[row]]

    def budget(self, row: int) -> int:
        """Tokens the next segment of ``row`` may have: ``segment_tokens``, never past ``max_tokens``."""
        return min(self.config.segment_tokens, self.settings.max_tokens - self.state(row).tokens)

    def generate(self, member: int, rows: Sequence[int], budgets: Sequence[int]) -> dict[int, Segment]:
        """Member ``member`` writes one segment for each of ``rows`` (``budgets`` aligned with them)."""
        full = [0] * len(self.active)
        for row, budget in zip(rows, budgets, strict=True):
            full[row] = budget
        s = self.settings
        segs = self.sessions[member].generate(
            full, stop=s.stop, temperature=s.temperature, top_p=s.top_p, rows=list(rows), ignore_eos=s.ignore_eos
        )
        for row in rows:
            self.state(row).generated += len(segs[row].token_ids)
        return {row: segs[row] for row in rows}

    def rollback(self, member: int, row: int, seg: Segment) -> None:
        """Reject a segment ``member`` just wrote for ``row``."""
        self.sessions[member].rollback(row, len(seg.token_ids))

    def truncate(self, member: int, row: int, seg: Segment, end: int) -> int:
        """Shorten the segment ``member`` just wrote for ``row`` to ``seg.text[:end]``; return the
        number of its tokens that cover that text.

        Whole tokens are rolled back until the session's text is a prefix of the wanted text, and
        the few characters still missing (a token that straddles ``end``) are appended, so the
        session then holds exactly the wanted text.
        """
        session = self.sessions[member]
        want = seg.text[:end]
        base = len(session.text(row)) - len(seg.text)
        kept = len(seg.token_ids)
        while kept > 0 and not want.startswith(session.text(row)[base:]):
            session.rollback(row, 1)
            kept -= 1
        rest = want[len(session.text(row)) - base :]
        if rest:
            session.append([rest if r == row else None for r in range(len(self.active))])
            kept += 1  # the straddling token was sampled; its first characters are kept
        return kept

    # ----------------------------------------------------------------- the loop
    def run(self, play: Play) -> list[Result]:
        """Play rounds until every example has ended; one result per example, in order."""
        cfg, settings = self.config, self.settings
        for rnd in range(cfg.max_rounds):
            self._drop_cancelled()
            if not self.active:
                break
            rows = list(range(len(self.active)))
            picks = play(self, rnd, rows)
            appends: list[list[str | None]] = [[None] * len(rows) for _ in self.sessions]
            keep: list[int] = []
            for row in rows:
                st = self.state(row)
                st.rounds = rnd + 1
                pick = picks[row]
                if pick.candidates is not None:
                    chosen = pick.chosen if isinstance(pick, Pick) else None
                    stop = pick.cause if isinstance(pick, Stop) else None
                    st.trace.append(round_record(rnd, pick.candidates, chosen, stop))
                if isinstance(pick, Stop):
                    st.finish, st.cause = "stop", pick.cause
                    continue
                st.output += pick.text
                st.tokens += pick.tokens
                st.attribution.append(
                    Attribution(self.members[pick.writer].name, rnd, pick.text, pick.tokens, pick.score)
                )
                if pick.text:
                    self.ctx.emit(st.index, pick.text, self.members[pick.writer].name)
                self.ctx.progress(st.index, st.tokens, st.rounds)
                if pick.finish_reason == "stop":
                    st.finish, st.cause = "stop", pick.stopped_by
                elif st.tokens >= settings.max_tokens:
                    st.finish, st.cause = "length", "max_tokens"
                elif rnd == cfg.max_rounds - 1:
                    st.finish, st.cause = "length", "max_rounds"
                else:
                    keep.append(row)
                    for j in range(len(self.sessions)):
                        if j != pick.writer or not pick.held:
                            appends[j][row] = pick.text
            self._advance(appends, keep)
        return [st.result() for st in self.states]

    def _advance(self, appends: list[list[str | None]], keep: list[int]) -> None:
        for session, texts in zip(self.sessions, appends, strict=True):
            session.append(texts)
            session.retain(keep)
        self.active = [self.active[row] for row in keep]

    def _drop_cancelled(self) -> None:
        keep = []
        for row in range(len(self.active)):
            st = self.state(row)
            if self.ctx.is_cancelled(st.index):
                st.finish, st.cause = "stop", "cancelled"
            else:
                keep.append(row)
        if len(keep) < len(self.active):
            self._advance([[None] * len(self.active) for _ in self.sessions], keep)
