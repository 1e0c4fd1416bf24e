"""The ``reward`` aggregator: reward-guided segment ensembling (the seed's "simple" method).

Each round, every selected member writes up to ``segment_tokens`` tokens from the shared context
(all examples of the batch at once, one batched ``generate`` per member); the scorer scores every
candidate; the best one is kept. Its writer keeps its own tokens; every other member rolls its
candidate back and appends the winning text to its session (only that text, plus a short tail, is
tokenized — the context is never re-encoded). An example ends when the chosen segment ended on
EOS or a stop string (``finish_reason: stop``), when its output reaches ``generation.max_tokens``
or ``max_rounds`` rounds have run (``length``). Each chosen segment is emitted through
``ctx.emit`` as soon as it is chosen; a cancelled example stops after the current round
(``stop_cause: cancelled``).

Repeated-segment guard: a candidate whose text equals the previous round's chosen segment is
passed over in favour of the best candidate that does not repeat it; if every candidate repeats,
the example stops there (``stop_cause: repetition``, ``finish_reason: stop``) instead of looping
until the token budget is gone.

Ties go to the member listed first in the recipe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import Field

from ..core.components import Aggregator, Candidate, ComponentConfig, EnsembleContext
from ..core.types import Attribution, Example, Result, Segment, Usage


class RewardConfig(ComponentConfig):
    segment_tokens: int = Field(32, gt=0, description="tokens each member writes per round")
    max_rounds: int = Field(16, gt=0, description="rounds before the example stops with 'length'")
    repeat_guard: bool = Field(True, description="never pick a segment identical to the previous one")


@dataclass
class _State:
    example: Example
    output: str = ""
    tokens: int = 0
    attribution: list[Attribution] = field(default_factory=list)
    finish: str | None = None
    cause: str | None = None
    rounds: int = 0
    generated: int = 0


class RewardAggregator(Aggregator):
    description = "each round every model writes a segment; the scorer's best one is kept"
    Config = RewardConfig
    config: RewardConfig
    needs_scorer = True

    def run(self, examples: Sequence[Example], ctx: EnsembleContext) -> list[Result]:
        cfg, settings = self.config, ctx.settings
        if ctx.scorer is None:
            raise ValueError("the reward aggregator needs a scorer")
        members = ctx.members
        sessions = [m.generator.open(examples, settings, salt=m.name) for m in members]
        states = [_State(ex) for ex in examples]
        prompt_tokens = [sessions[0].prompt_length(i) for i in range(len(examples))]
        active = list(range(len(examples)))  # example index of each session row
        for rnd in range(cfg.max_rounds):
            if not active:
                break
            budgets = [min(cfg.segment_tokens, settings.max_tokens - states[e].tokens) for e in active]
            cands = [
                s.generate(
                    budgets,
                    stop=settings.stop,
                    temperature=settings.temperature,
                    top_p=settings.top_p,
                    ignore_eos=settings.ignore_eos,
                )
                for s in sessions
            ]
            flat = [
                Candidate(states[e].example, states[e].output, m.name, cands[j][row])
                for row, e in enumerate(active)
                for j, m in enumerate(members)
            ]
            scores = ctx.scorer.score(flat)
            appends: list[list[str | None]] = [[None] * len(active) for _ in members]
            keep: list[int] = []
            for row, e in enumerate(active):
                st = states[e]
                st.rounds = rnd + 1
                st.generated += sum(len(c[row].token_ids) for c in cands)
                row_scores = scores[row * len(members) : (row + 1) * len(members)]
                winner = self._pick(st, [c[row] for c in cands], row_scores)
                for j, s in enumerate(sessions):
                    if j != winner:
                        s.rollback(row, len(cands[j][row].token_ids))
                if winner is None:
                    st.finish, st.cause = "stop", "repetition"
                    continue
                seg = cands[winner][row]
                st.output += seg.text
                st.tokens += len(seg.token_ids)
                st.attribution.append(
                    Attribution(members[winner].name, rnd, seg.text, len(seg.token_ids), row_scores[winner])
                )
                ctx.emit(e, seg.text)
                if seg.finish_reason == "stop":
                    st.finish, st.cause = "stop", seg.stopped_by
                elif st.tokens >= settings.max_tokens:
                    st.finish, st.cause = "length", "max_tokens"
                elif rnd == cfg.max_rounds - 1:
                    st.finish, st.cause = "length", "max_rounds"
                elif ctx.is_cancelled(e):
                    st.finish, st.cause = "stop", "cancelled"
                else:
                    keep.append(row)
                    for j in range(len(members)):
                        if j != winner:
                            appends[j][row] = seg.text
            for j, s in enumerate(sessions):
                s.append(appends[j])
                s.retain(keep)
            active = [active[row] for row in keep]
        results = []
        for i, st in enumerate(states):
            results.append(
                Result(
                    id=st.example.id,
                    output=st.output,
                    finish_reason=st.finish or "length",  # type: ignore[arg-type]
                    attribution=st.attribution,
                    usage=Usage(prompt_tokens[i], st.tokens, st.generated),
                    rounds=st.rounds,
                    stop_cause=st.cause or "max_rounds",
                )
            )
        return results

    def _pick(self, st: _State, segs: list[Segment], scores: list[float]) -> int | None:
        order = sorted(range(len(segs)), key=lambda j: (-scores[j], j))
        if not self.config.repeat_guard or not st.attribution:
            return order[0]
        previous = st.attribution[-1].text
        for j in order:
            if not previous or segs[j].text != previous:
                return j
        return None
