"""Token-level ensembling across different tokenizers: the stepping shared by ``union`` and ``topk-union``.

Every step, each member gives its next-token distribution; the method (``merge``) turns them into
one score per entry of the union vocabulary (``vocab.union``: entries are the *bytes* a token stands
for, so members with different tokenizers vote on the same strings); one entry is chosen (greedy,
or sampled with the row's own seed) and becomes part of the shared output bytes.

Keeping members in step, without ever re-encoding the context:

* Each member holds its own incremental session (``HFSessionBatch``): its own token ids of the
  shared text and its KV cache, batched across examples.
* When every member that voted put the chosen entry first (always, for a model ensembled with itself,
  and for the primary alone in a gated step), each is fed its own top token as it is: the step is
  exactly what that model does alone. (So a member's ids equal its tokenizer's own encoding of the
  text except where it kept a token it chose itself, e.g. ``Jan`` + ``et`` where its tokenizer
  would write ``Janet``: the split a model makes when generating alone.)
* Otherwise the members *catch up from text*: before their next forward, the new text is appended
  with ``HFSessionBatch.append``, which re-encodes only the row's last ``tail_tokens`` tokens (the
  generator's ``tail_tokens``, default 4) together with the new text and feeds the tokens that
  differ. So each member holds its *own* tokenization of the text (Gemma its ``\\n`` token, never a
  byte-fallback id) and the work per catch-up is bounded by ``tail_tokens`` + the new text's tokens,
  whatever the context length. (The tail doubles only if the tokenizer cannot decode the kept head
  back to a prefix of the text, e.g. when it ends inside a character.)
* An entry may end inside a UTF-8 character (a byte-level token holding half of an emoji). Until
  the character is complete, members that spell the entry as one token take it as that token (their
  ordinary token, preferred over a byte fallback) and keep voting; the others sit out and catch up
  from text once the character is complete. While a character is incomplete, only entries that
  continue it validly are candidates, scored by the weighted member probabilities; entries that are
  not valid UTF-8 from a character boundary are never chosen, so the output is always valid text.
* Gate mode (``primary`` + ``threshold``): when the primary's top probability is above the threshold
  the step uses it alone and the other members run no forward pass; they catch up from text the next
  time they are needed. At batch > 1 (``gate_sub_batch``, the default) a member's forward covers only
  the rows that need it (``HFSessionBatch.next_logits(rows=...)``): the other rows' sessions are not
  touched (no catch-up, no forward) and catch up from text when next needed, so each row costs what it
  would alone and the gate's saving survives batching. ``gate_sub_batch: false`` runs a member over
  the whole batch whenever any row needs it, catching up every row it can in the same forward.

Identical tokenizers (``UnionVocab.shared``: every member maps every token id to the same entry,
e.g. Qwen2.5-Coder 0.5B + 1.5B) are the easy case and take no text catch-up at all: the chosen token
is a token of every member, so each member that is up to date is fed it (its own top token when it
agreed, else its spelling of the entry) and the members' ids stay one stream, as in plain token-space
averaging. No member re-encodes a tail, and no forward grows past one token per row. The union itself
is built once for the shared tokenizer (``vocab.union``).

A method may settle a greedy step without scoring the whole union (``candidates``: ``union``
scores its members' top tokens exactly and bounds every other entry); rows it cannot settle take the
full ``merge``. Members' distributions (``MemberDist``) are computed only as far as the step needs.

Ties in greedy choice go to an entry a voting member put first (first member first), else to the
lowest entry (the first member's lowest token id). Special tokens never enter the text: every
member's end-of-sequence ids share one ``end`` entry (choosing it stops the example), and other
special tokens (chat markers, ``<unusedN>``) are never chosen: they stand for no text and a member
without them could not follow. (So a model that would emit such a token alone differs there from
itself ensembled; it would otherwise spell the marker out into its text.)
"""

from __future__ import annotations

import codecs
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import Field, model_validator

from ..core.components import Aggregator, ComponentConfig, EnsembleContext, Member, Problem
from ..core.pool import default_pool, spec_key
from ..core.seeding import row_seed
from ..core.types import Attribution, Example, GenerationSettings, Result, Usage
from ..errors import RecipeError, UsageError

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


class SpeculateConfig(ComponentConfig):
    """Speculative stepping (``speculative.py``): one member drafts, the others verify in one forward."""

    proposer: str = Field(description="the member that drafts tokens (must have a weight > 0)")
    max_draft: int = Field(4, ge=1, le=32, description="most tokens drafted per round")
    adaptive: bool = Field(True, description="adapt each row's draft length to its measured acceptance rate")


class TokenLevelConfig(ComponentConfig):
    weights: dict[str, float] | Literal["uniform"] = Field(
        "uniform", description="per-member weight ({smol: 0.6, gemma: 0.4}) or 'uniform'"
    )
    primary: str | None = Field(None, description="gate mode: the member that decides alone when it is sure")
    threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="gate mode: the primary decides alone when its top probability exceeds this"
    )

    gate_sub_batch: bool = Field(
        True, description="gate mode: run another member's forward only for the rows that need it (False: for the "
        "whole batch whenever any row needs it)"
    )
    speculate: SpeculateConfig | None = Field(
        None, description="speculative mode: {proposer: <member>, max_draft: 4, adaptive: true}; same output as without"
    )

    @model_validator(mode="after")
    def _gate_pair(self) -> TokenLevelConfig:
        if (self.primary is None) != (self.threshold is None):
            raise ValueError("gate mode needs both 'primary' and 'threshold'")
        if self.speculate is not None and self.primary is not None:
            raise ValueError("'speculate' cannot be combined with gate mode ('primary'/'threshold')")
        if isinstance(self.weights, dict) and any(w < 0 for w in self.weights.values()):
            raise ValueError("weights must be >= 0")
        return self


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
    # mixture mode: draws not written (rejected), steps that fell back to the full merge
    rejected: int = 0
    merged: int = 0

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


class TokenLevelAggregator(Aggregator):
    """Base of the token-level methods; subclasses say how member distributions become union scores."""

    Config = TokenLevelConfig
    config: TokenLevelConfig

    def merge(self, step: StepInput) -> torch.Tensor:
        """Scores ``[rows, len(union)]`` (higher is better); -1 marks an entry that is not a candidate."""
        raise NotImplementedError

    def candidates(self, step: StepInput) -> Candidates | None:
        """For a greedy step: the few entries that can win, scored exactly as ``merge`` would, with a
        bound on every other entry's score; None when the method has no such shortcut."""
        return None

    @classmethod
    def recipe_problems(cls, config: ComponentConfig, models: Sequence[str]) -> list[Problem]:
        """``weights`` and ``primary`` name models of the recipe (caught at ``recipes validate``, not mid-run)."""
        assert isinstance(config, TokenLevelConfig)
        problems = []
        if config.primary is not None and config.primary not in models:
            problems.append(Problem("primary", f"{config.primary!r} is not a model of this recipe"))
        spec = config.speculate
        if spec is not None and spec.proposer not in models:
            problems.append(Problem("speculate.proposer", f"{spec.proposer!r} is not a model of this recipe"))
        elif spec is not None and isinstance(config.weights, dict) and config.weights.get(spec.proposer, 1.0) <= 0:
            problems.append(Problem("speculate.proposer", f"{spec.proposer!r} has weight 0: it would not vote"))
        if isinstance(config.weights, dict):
            for name in config.weights:
                if name not in models:
                    problems.append(Problem(f"weights.{name}", f"{name!r} is not a model of this recipe"))
            missing = [n for n in models if n not in config.weights]
            if missing:
                problems.append(Problem("weights", f"no weight for {', '.join(missing)}"))
            elif sum(config.weights.values()) <= 0:
                problems.append(Problem("weights", "at least one weight must be > 0"))
        return problems

    # ------------------------------------------------------------------ setup
    def _weights(self, members: Sequence[Member]) -> list[float]:
        names = [m.name for m in members]
        cfg = self.config
        if cfg.primary is not None and cfg.primary not in names:
            raise RecipeError(f"aggregator.params.primary: '{cfg.primary}' is not a member ({', '.join(names)})")
        if cfg.speculate is not None and cfg.speculate.proposer not in names:
            raise RecipeError(f"aggregator.params.speculate.proposer: '{cfg.speculate.proposer}' is not a member "
                              f"({', '.join(names)})")
        if cfg.weights == "uniform":
            return [1.0 / len(members)] * len(members)
        missing = [n for n in names if n not in cfg.weights]
        if missing:
            raise RecipeError(f"aggregator.params.weights: no weight for {', '.join(missing)}")
        w = [float(cfg.weights[n]) for n in names]
        if sum(w) <= 0:
            raise RecipeError("aggregator.params.weights: at least one weight must be > 0")
        if cfg.speculate is not None and w[names.index(cfg.speculate.proposer)] <= 0:
            raise RecipeError(f"aggregator.params.speculate.proposer: '{cfg.speculate.proposer}' has weight 0 "
                              "(a proposer must vote)")
        return w

    def _union(self, members: Sequence[Member]) -> UnionVocab:
        from ..vocab.union import union_vocab

        gens = [m.generator for m in members]
        for m, g in zip(members, gens, strict=True):
            if not hasattr(g, "loaded") or not hasattr(g, "tokenizer"):
                raise UsageError(f"token-level ensembling needs token access; member '{m.name}' does not give it")
        loaded = [g.loaded for g in gens]  # type: ignore[attr-defined]
        widths = [int(lm.model.get_output_embeddings().weight.shape[0]) for lm in loaded]
        key = "union-vocab:" + "|".join(spec_key(type(g).__name__, g.config) for g in gens)
        pool = self.pool or default_pool()
        tokenizers, eos = [lm.tokenizer for lm in loaded], [lm.eos_ids for lm in loaded]
        return pool.get(key, lambda: union_vocab(tokenizers, eos, widths))

    # ------------------------------------------------------------------ run
    def run(self, examples: Sequence[Example], ctx: EnsembleContext) -> list[Result]:
        examples = list(examples)
        members = ctx.members
        settings = ctx.settings
        weights = self._weights(members)
        mixture = getattr(self.config, "mode", "average") == "mixture"
        if mixture and settings.temperature <= 0.0:
            raise RecipeError(
                "generation.temperature: aggregator.params.mode 'mixture' samples (it draws a member by weight, "
                "then a token from it), so it needs temperature > 0; greedy argmax of the mixture is not the argmax "
                "of one drawn member: use mode 'average' (the default) for greedy decoding"
            )
        union = self._union(members)
        primary = [m.name for m in members].index(self.config.primary) if self.config.primary else None
        sessions: list[HFSessionBatch] = [
            m.generator.open(examples, settings, salt=m.name) for m in members  # type: ignore[misc]
        ]
        states = [
            _Row(ex, i, _row_generator(settings, ex), sessions[0].prompt_length(i), wins=[0] * len(members))
            for i, ex in enumerate(examples)
        ]
        rows = list(states)  # the live rows, aligned with the sessions' rows
        fed = [[0] * len(rows) for _ in members]  # bytes of ``out`` each member's ids cover, per live row
        if self.config.speculate is not None:
            from .speculative import SpeculativeStepper

            stepper: _Stepper = SpeculativeStepper(self, union, members, sessions, weights, primary, settings, ctx)
        elif mixture:
            from .mixture import MixtureStepper

            stepper = MixtureStepper(self, union, members, sessions, weights, primary, settings, ctx)
        else:
            stepper = _Stepper(self, union, members, sessions, weights, primary, settings, ctx)
        while rows:
            stepper.step(rows, fed)
            keep = [i for i, st in enumerate(rows) if st.finish is None]
            for st in rows:
                ctx.progress(st.index, st.steps, st.steps)
                if st.finish is not None:
                    _emit(ctx, st, settings, final=True)
            if len(keep) != len(rows):
                for s in sessions:
                    s.retain(keep)
                rows = [rows[i] for i in keep]
                fed = [[f[i] for i in keep] for f in fed]
        return [_result(st, members, self.config.primary is not None, self.config.speculate is not None, mixture)
                for st in states]


class _Stepper:
    """One batch's stepping: which members run, the merge, the choice and how each member follows it."""

    def __init__(self, method: TokenLevelAggregator, union: UnionVocab, members: Sequence[Member],
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
        import torch

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
        return int(torch.multinomial(p, 1, generator=st.generator).item())

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
        }
    if mixture:
        summary["mixture"] = {"rejected": st.rejected, "merged_steps": st.merged}
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
