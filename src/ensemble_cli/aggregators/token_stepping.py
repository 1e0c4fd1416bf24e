"""Stepping a batch of token-level rows: the state of each row, the merge of the members' next-token
distributions, the choice and how each member follows it (``_Stepper``), and the helpers that turn a
row into a ``Result``. ``token_level`` (the aggregators and their config) drives it; the speculative
and mixture modes (``speculative``, ``mixture``) are steppers built on it. See ``token_level``'s
docstring for the method itself.
"""


from __future__ import annotations

import codecs
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..core.components import EnsembleContext, Member
from ..core.sampling import draw
from ..core.seeding import row_seed
from ..core.types import Attribution, Example, GenerationSettings, Result, Usage

if TYPE_CHECKING:  # torch is imported where a batch is really stepped, so registering these stays cheap
    import torch

    from ..generators.hf_session import HFSessionBatch
    from ..vocab.union import UnionVocab
    from .distributions import MemberDist

_F = TypeVar("_F", bound=Callable[..., Any])


def _inference_mode(fn: _F) -> _F:
    """``torch.inference_mode()`` as a decorator that imports torch at call time, not at import."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import torch

        with torch.inference_mode():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@dataclass
class _Row:
    """One example's progress."""

    example: Example
    index: int  # position in this call's examples
    generator: torch.Generator | None
    prompt_tokens: int
    out: bytearray = field(default_factory=bytearray)  # every chosen byte
    text: str = ""  # the complete characters of ``out``
    decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")())
    steps: int = 0
    gated: int = 0
    wins: list[int] = field(default_factory=list)
    attribution: list[Attribution] = field(default_factory=list)
    finish: str | None = None
    cause: str | None = None
    emitted: int = 0
    # speculative mode: tokens the proposer drafted, those that became output, rounds, next draft length
    drafted: int = 0
    accepted: int = 0
    rounds: int = 0
    draft_len: int = 0
    acceptance: float = 0.5  # running estimate of the share of drafted tokens accepted
    continued: int = 0  # drafted positions a voter disagreed with that the round still went past
    # mixture mode: draws not written (rejected), steps that fell back to the full merge
    rejected: int = 0
    merged: int = 0
    pick: int | None = None  # the member drawn for the next token, while it waits for that member's turn
    draws: int = 0  # rejected draws since the last written token
    waited: int = 0  # steps the row sat out waiting for its drawn member

    @property
    def pending(self) -> bytes:
        """Bytes of an incomplete last character."""
        return self.decoder.getstate()[0]


#: what one step feeds its members: ids per member (each ``[rows]``, only the step's row set), and the
#: row's text after the step
_Plan = tuple[list[list[list[int] | None]], str]


@dataclass
class StepInput:
    """What a method merges for one step of a batch."""

    union: UnionVocab
    dists: list[MemberDist | None]  # per member: its next-token distribution per row (None: did not run)
    weights: torch.Tensor  # [members, rows]; 0 where the member does not vote

    def subset(self, rows: list[int]) -> StepInput:
        """The same step for some of its rows."""
        import torch

        idx = torch.tensor(rows, dtype=torch.long)
        return StepInput(self.union, [None if d is None else d.rows(idx) for d in self.dists], self.weights[:, idx])


@dataclass
class Candidates:
    """A greedy step settled on a few entries per row (``TokenLevelAggregator.candidates``).

    ``entries`` ``[rows, n]`` may repeat an entry and may hold ``len(union)``, a dummy that is never
    chosen; ``scores`` are the method's exact scores of those entries; no entry outside ``entries``
    can score above ``bound`` (per row). A row is settled when its best choosable candidate beats
    its bound; other rows fall back to the full merge.
    """

    entries: torch.Tensor
    scores: torch.Tensor
    bound: torch.Tensor


class Method(Protocol):
    """What the stepper needs of the token-level aggregator driving it (``token_level``): its
    config (threshold, gate, speculation settings) and how member distributions become scores."""

    config: Any

    def merge(self, step: StepInput) -> torch.Tensor: ...

    def candidates(self, step: StepInput) -> Candidates | None: ...


class _Stepper:
    """One batch's stepping: which members run, the merge, the choice and how each member follows it."""

    def __init__(self, method: Method, union: UnionVocab, members: Sequence[Member],
                 sessions: list[HFSessionBatch], weights: list[float], primary: int | None,
                 settings: GenerationSettings, ctx: EnsembleContext) -> None:
        import torch

        from ..vocab.union import SPECIAL

        self.method, self.union, self.members, self.sessions = method, union, members, sessions
        self.weights, self.primary, self.settings, self.ctx = weights, primary, settings, ctx
        self.threshold = method.config.threshold
        self.sub_batch = primary is not None and method.config.gate_sub_batch
        self.shared = union.shared  # identical tokenizers: feed the chosen token, never catch up from text
        self.stops = [s for s in settings.stop if s]
        # never chosen: text that is not valid UTF-8 from a character boundary, and special tokens other
        # than the end (they stand for no text, and a member without them could not follow)
        blocked = ~union.clean | (union.kinds == SPECIAL)
        if settings.ignore_eos and union.end >= 0:
            blocked = blocked.clone()
            blocked[union.end] = True
        self.blocked = blocked.nonzero().flatten()
        self.blocked_ext = torch.cat([blocked, torch.ones(1, dtype=torch.bool)])  # + the dummy entry

    def _cancelled(self, st: _Row) -> bool:
        return self.ctx.is_cancelled(st.index)

    def _catch_up(self, m: int, rows: list[_Row], fed: list[list[int]], which: list[bool]) -> None:
        """Append the text member ``m`` has not seen yet, for rows where it is behind and can follow."""
        session = self.sessions[m]
        texts: list[str | None] = [None] * len(rows)
        for r, st in enumerate(rows):
            if which[r] and fed[m][r] != len(st.out) and not st.pending:
                texts[r] = st.text[len(session.text(r)) :]
                fed[m][r] = len(st.out)
        if any(texts):
            session.append(texts)

    def _live_and_able(self, rows: list[_Row], fed: list[list[int]]) -> tuple[list[bool], list[list[bool]]]:
        """Mark cancelled rows finished; which rows still write, and ``able[m][r]``: member ``m`` may
        give row ``r``'s next distribution now (it has read every token, or none is pending)."""
        for st in rows:
            if self._cancelled(st):
                st.finish, st.cause = "stop", "cancelled"
        live = [st.finish is None for st in rows]
        able = [[live[r] and (fed[m][r] == len(st.out) or not st.pending) for r, st in enumerate(rows)]
                for m in range(len(self.members))]
        return live, able

    @_inference_mode
    def step(self, rows: list[_Row], fed: list[list[int]]) -> None:

        from .distributions import MemberDist

        n_members, n_rows = len(self.members), len(rows)
        live, able = self._live_and_able(rows, fed)
        if not any(live):
            return
        dists: list[MemberDist | None] = [None] * n_members
        top: list[list[int] | None] = [None] * n_members  # each member's top token per row
        gated = [False] * n_rows
        order = list(range(n_members))
        if self.primary is not None:
            order.remove(self.primary)
            order.insert(0, self.primary)
        for m in order:
            if self.weights[m] <= 0 and m != self.primary:
                continue  # never votes: never runs
            need = [able[m][r] and not gated[r] for r in range(n_rows)]
            if not any(need):
                continue
            if self.sub_batch and not all(need):
                self._catch_up(m, rows, fed, need)
                dist = dists[m] = MemberDist(self._sub_batch_logits(m, need))
            else:
                self._catch_up(m, rows, fed, able[m])
                dist = dists[m] = MemberDist(self.sessions[m].next_logits().float())
            argmax = dist.logits.argmax(dim=-1)
            top[m] = argmax.tolist()
            if m == self.primary:
                assert self.threshold is not None
                peak = dist.peak(argmax).tolist()
                gated = [need[r] and peak[r] > self.threshold for r in range(n_rows)]
        for r, plan in enumerate(self._decide(rows, live, able, dists, top, gated, fed)):
            if plan is not None:
                self._feed(plan[0], r, plan[1])

    def _sub_batch_logits(self, m: int, need: list[bool]) -> torch.Tensor:
        """Member ``m``'s logits from a forward over the rows that need it, as ``[rows, vocab]`` float32.

        The other rows' logits are zeros: they do not vote (weight 0) and their sessions are untouched.
        """
        import torch

        idx = [r for r, n in enumerate(need) if n]
        sub = self.sessions[m].next_logits(rows=idx).float()
        out = sub.new_zeros((len(need), sub.shape[1]))
        out[torch.tensor(idx, dtype=torch.long)] = sub
        return out

    def _decide(self, rows: list[_Row], live: list[bool], able: list[list[bool]], dists: list[MemberDist | None],
                top: list[list[int] | None], gated: list[bool], fed: list[list[int]]) -> list[_Plan | None]:
        """Merge one step's distributions, choose each live row's entry and apply it to the row.

        Returns per row what each member must be fed (``_apply``'s plan), for the caller to feed: a
        speculative round leaves drafted tokens it accepts where they already are.
        """
        import torch

        n_members, n_rows = len(self.members), len(rows)
        weights = torch.zeros(n_members, n_rows)
        for m in range(n_members):
            if dists[m] is None:
                continue
            for r in range(n_rows):
                voting = able[m][r] and (not gated[r] or m == self.primary)
                if voting and live[r]:
                    weights[m, r] = self.weights[m]
        step = StepInput(self.union, dists, weights)
        scores = self._scores(step, rows, live)
        top_entry = [None if t is None else self.union.members[m].token_entry[t].tolist()
                     for m, t in enumerate(top)]
        plans: list[_Plan | None] = [None] * n_rows
        for r, st in enumerate(rows):
            if not live[r]:
                continue
            voters = [m for m in range(n_members) if weights[m, r] > 0]
            if not voters:  # every weighted member is waiting for a character only others could finish
                st.finish, st.cause = "stop", "no_voter"
                continue
            firsts = [top_entry[m][r] for m in voters]  # type: ignore[index]
            e, score = self._pick(r, st, scores[r], firsts)
            plans[r] = self._apply(st, r, e, voters, [top[m][r] for m in voters], firsts, fed,  # type: ignore[index]
                                   score / max(float(weights[:, r].sum()), 1e-12), gated[r])
        return plans

    def _pick(self, r: int, st: _Row, row: Any, firsts: list[int]) -> tuple[int, float]:
        """Row ``r``'s entry and its score, from a full score row or a settled (entries, scores) pair."""
        if isinstance(row, tuple):
            return _choose_settled(*row, firsts)
        e = self._choose(row, firsts, st)
        return e, float(row[e])

    def _scores(self, step: StepInput, rows: list[_Row], live: list[bool]) -> list[Any]:
        """Per live row: a full score row ``[len(union)]``, or (entries, scores) when a greedy step was
        settled on a few candidates (``Candidates``: exact, so the choice is the one the full merge makes)."""
        out: list[Any] = [None] * len(rows)
        full: list[int] = []
        for r, st in enumerate(rows):
            if live[r] and st.pending:
                out[r] = self._continuations(st.pending, step.dists, step.weights[:, r], r)
            elif live[r]:
                full.append(r)
        if full and self.settings.temperature <= 0.0:
            found = self.method.candidates(step)
            if found is not None:
                choosable = ~self.blocked_ext[found.entries]
                best = found.scores.masked_fill(~choosable, -1.0).max(dim=1).values
                # a hair of margin: the bound and the full merge's scores may differ in the last float bit
                settled = (best > found.bound * (1 + 1e-5)).tolist()
                for r in [r for r in full if settled[r]]:
                    out[r] = (found.entries[r][choosable[r]], found.scores[r][choosable[r]])
                full = [r for r in full if not settled[r]]
        if full:
            merged = self.method.merge(step.subset(full) if len(full) < len(rows) else step)
            merged.index_fill_(1, self.blocked, -1.0)
            for i, r in enumerate(full):
                out[r] = merged[i]
        return out

    def _continuations(self, pending: bytes, dists: list[MemberDist | None], w: torch.Tensor, r: int) -> torch.Tensor:
        """Scores of the entries that validly continue an incomplete character (all else -1)."""
        import torch

        from ..vocab.union import valid_utf8_prefix

        u = self.union
        cands = [int(e) for e in u.continuation.tolist() if valid_utf8_prefix(pending + u.entry_bytes(int(e)))]
        out = torch.full((len(u),), -1.0)
        if not cands:
            return out
        idx = torch.tensor(cands, dtype=torch.long)
        total = torch.zeros(len(cands))
        for m, d in enumerate(dists):
            if d is not None and w[m] > 0:
                total += w[m] * u.entry_probs(m, d.rows(slice(r, r + 1)), idx[None, :])[0]
        out[idx] = total
        return out

    def _choose(self, scores: torch.Tensor, firsts: list[int], st: _Row) -> int:

        s = self.settings
        if s.temperature <= 0.0:
            best = float(scores.max())
            for e in firsts:  # ties go to a voter's own first choice, first member first
                if e >= 0 and float(scores[e]) == best:
                    return e
            return int(scores.argmax())
        p = self._sampling_probs(scores)
        if p is None:
            return int(scores.argmax())
        return draw(p, st.generator)

    def _sampling_probs(self, scores: torch.Tensor) -> torch.Tensor | None:
        """The distribution a sampled step draws from (temperature, then top-p); None if it has no mass."""
        import torch

        s = self.settings
        p = scores.clamp(min=0.0)
        if s.temperature != 1.0:
            p = p.pow(1.0 / s.temperature)
        if float(p.sum()) <= 0.0:
            return None
        p = p / p.sum()
        if s.top_p < 1.0:  # the nucleus from a growing top-k: no sort of the whole union per step
            k = 64
            while True:
                top_p, order = p.topk(min(k, p.numel()))
                if float(top_p.sum()) >= s.top_p or k >= p.numel():
                    break
                k *= 8
            keep = top_p.cumsum(0) - top_p < s.top_p
            keep[0] = True
            p = torch.zeros_like(p).scatter_(0, order[keep], top_p[keep])
        return p

    def _apply(self, st: _Row, r: int, e: int, voters: list[int], tops: list[int], firsts: list[int],
               fed: list[list[int]], score: float, gated: bool) -> _Plan | None:
        """Write entry ``e`` to the row; return what each member must be fed for it (None: nothing)."""
        from ..vocab.union import END

        u = self.union
        agree = [m for m, f in zip(voters, firsts, strict=True) if f == e]
        names = "+".join(self.members[m].name for m in agree)
        st.steps += 1
        st.gated += int(gated)
        for m in agree:
            st.wins[m] += 1
        kind = int(u.kinds[e])
        if kind == END:
            st.attribution.append(Attribution(names, st.steps - 1, "", 1, score))
            st.finish, st.cause = "stop", "eos"
            return None
        unanimous = len(agree) == len(voters)
        ids: list[list[list[int] | None]] = [[None] * len(fed[0]) for _ in self.members]
        before = len(st.text)
        up_to_date = [fed[m][r] == len(st.out) for m in range(len(self.members))]
        data = u.entry_bytes(e)
        st.out += data
        st.text += st.decoder.decode(data)
        for m, tok in zip(voters, tops, strict=True):
            if unanimous or (self.shared and m in agree):
                ids[m][r] = [tok]  # its own choice, exactly as it would take it alone
            elif (st.pending or self.shared) and int(u.members[m].preferred[e]) >= 0:
                ids[m][r] = [int(u.members[m].preferred[e])]
            else:
                continue  # behind: catches up from text before its next forward
            fed[m][r] = len(st.out)
        if self.shared:  # members that sat this step out (gated, weight 0) take the token too, if in step
            for m in range(len(self.members)):
                if ids[m][r] is None and up_to_date[m] and int(u.members[m].preferred[e]) >= 0:
                    ids[m][r] = [int(u.members[m].preferred[e])]
                    fed[m][r] = len(st.out)
        plan = (ids, st.text)
        piece = st.text[before:]
        st.attribution.append(Attribution(names, st.steps - 1, piece, 1, score))
        if self.stops and piece:
            longest = max(len(s) for s in self.stops)
            start = max(0, before - longest + 1)
            hits = [h for h in (st.text.find(s, start) for s in self.stops) if h >= 0]
            if hits:
                cut = min(hits)
                _trim_attribution(st, cut)
                st.text = st.text[:cut]
                st.finish, st.cause = "stop", "stop_string"
                return plan
        if st.steps >= self.settings.max_tokens:
            st.finish, st.cause = "length", "max_tokens"
            return plan
        _emit(self.ctx, st, self.settings, final=False)
        return plan

    def _feed(self, ids: list[list[list[int] | None]], r: int, text: str, only: Sequence[int] | None = None) -> None:
        """Feed row ``r`` of each member (of ``only``, if given) its planned ids; ``text``: the row's text then."""
        for m, per_row in enumerate(ids):
            if per_row[r] is None or (only is not None and m not in only):
                continue
            session = self.sessions[m]
            texts: list[str | None] = [None] * len(per_row)
            texts[r] = text[len(session.text(r)) :]
            session.feed(per_row, texts)


def _choose_settled(entries: torch.Tensor, scores: torch.Tensor, firsts: list[int]) -> tuple[int, float]:
    """``_choose``'s greedy rule over a settled step's candidates: the best score; ties go to a voter's
    own first choice (first member first), else to the lowest entry, as ``argmax`` over the full row."""
    best = float(scores.max())
    tied = entries[scores == best].tolist()
    for e in firsts:
        if e in tied:
            return e, best
    return min(tied), best



def _row_generator(settings: GenerationSettings, ex: Example) -> torch.Generator | None:
    seed = row_seed(settings.seed, ex.id, "token-level")
    if seed is None:
        return None
    import torch

    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed)
    return gen


def _trim_attribution(st: _Row, cut: int) -> None:
    """Cut the attributed pieces so they still concatenate to the (stop-trimmed) output."""
    total = 0
    for a in st.attribution:
        if total + len(a.text) > cut:
            a.text = a.text[: max(0, cut - total)]
        total += len(a.text)


def _emit(ctx: EnsembleContext, st: _Row, settings: GenerationSettings, *, final: bool) -> None:
    """Hand newly final text to ``ctx.emit``: all of it at the end, else all but a possible stop-string start."""
    hold = 0 if final else max((len(s) - 1 for s in settings.stop if s), default=0)
    upto = max(st.emitted, len(st.text) - hold)
    if upto <= st.emitted:
        return
    start = 0  # each attributed piece overlapping [emitted, upto) goes out with its writer(s)' name
    for a in st.attribution:
        end = start + len(a.text)
        lo, hi = max(start, st.emitted), min(end, upto)
        if hi > lo:
            ctx.emit(st.index, st.text[lo:hi], a.model)
        start = end
    if start < upto:  # cannot happen while the pieces concatenate to the text; never lose output
        ctx.emit(st.index, st.text[max(start, st.emitted) : upto])
    st.emitted = upto


def _result(st: _Row, members: Sequence[Member], gate: bool, speculate: bool = False, mixture: bool = False) -> Result:
    steps = max(st.steps, 1)
    summary: dict[str, Any] = {
        "steps": st.steps,
        "won_share": {m.name: round(st.wins[j] / steps, 4) for j, m in enumerate(members)},
    }
    if gate:
        summary["gated_share"] = round(st.gated / steps, 4)
    if speculate:
        summary["speculation"] = {
            "rounds": st.rounds,
            "drafted": st.drafted,
            "accepted": st.accepted,
            "acceptance_rate": round(st.accepted / st.drafted, 4) if st.drafted else 0.0,
            "mean_draft": round(st.drafted / st.rounds, 3) if st.rounds else 0.0,
            "continued_past_disagreement": st.continued,
        }
    if mixture:
        summary["mixture"] = {"rejected": st.rejected, "merged_steps": st.merged, "waited_steps": st.waited}
    return Result(
        id=st.example.id,
        output=st.text,
        finish_reason=st.finish or "length",  # type: ignore[arg-type]
        attribution=st.attribution,
        # drafted tokens that never became output, and rejected mixture draws, were generated too (the cost)
        usage=Usage(st.prompt_tokens, st.steps, st.steps + st.drafted - st.accepted + st.rejected),
        rounds=st.steps,
        stop_cause=st.cause or "max_tokens",
        summary=summary,
    )
