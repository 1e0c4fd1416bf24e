"""The ``rank`` aggregator: whole answers ranked by pairwise comparison (LLM-Blender's PairRanker idea).

Each selected member writes ``n`` whole answers (as in ``best-of-n``); then a comparison
P(x better than y) decides. With a ``PairwiseScorer`` (e.g. ``judge``) that is its ``compare``;
with any other scorer, answers are scored once and P = 1, 0.5 or 0 as the score is higher, equal
or lower (scale-free). Every comparison asks both orders, ``(P(x, y) + 1 - P(y, x)) / 2``, which
cancels a judge's position bias.

- ``full``: every ordered pair, N(N-1) comparisons; an answer's score is the sum of its
  both-order win probabilities against all others; the highest wins (ties: earliest answer).
- ``bubble``: one bubble pass keeping the current best: the first answer against the second,
  the winner against the third, ...; N-1 matches of 2 comparisons each, 2(N-1) in all. A match
  at exactly 0.5 keeps the current best.

The answers of all examples are compared in one batched ``compare`` call per stage (``full``: one
stage; ``bubble``: N-1 stages). The chosen answer is emitted once chosen; a cancelled example
stops early with an empty output (``stop_cause: cancelled``). Its attribution score is the
winner's total (``full``) or its last match's win probability (``bubble``).

``summary.trace`` (``aggregators.trace``) lists every answer with the same kind of figure: its
summed win probability (``full``), or its win probability in the last match it played (``bubble``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from pydantic import Field

from ..core.components import Aggregator, Candidate, ComponentConfig, EnsembleContext, Scorer
from ..core.types import Attribution, Example, Result, Usage
from ..errors import UsageError
from ..scorers.pairwise import PairwiseScorer
from .full_answers import cancelled_result, stop_cause, write_answers
from .trace import TraceCandidate, round_record


class RankConfig(ComponentConfig):
    mode: Literal["full", "bubble"] = Field("full", description="all ordered pairs, or a 2(N-1) bubble pass")
    n: int = Field(1, gt=0, description="answers each selected member writes per example")
    temperature: float | None = Field(None, ge=0, description="sampling temperature (default: the recipe's)")
    chunk_tokens: int = Field(64, gt=0, description="tokens per generate call (how often cancellation is checked)")


class _Comparator:
    """Both-order win probabilities from a pairwise scorer, or from a pointwise scorer's scores."""

    def __init__(self, scorer: Scorer, groups: Sequence[Sequence[Candidate]]) -> None:
        self.scorer = scorer
        self.pairwise = isinstance(scorer, PairwiseScorer)
        self.points: dict[int, float] = {}
        self.comparisons = 0
        if not self.pairwise:
            flat = [c for g in groups for c in g]
            for c, s in zip(flat, scorer.score(flat) if flat else [], strict=True):
                self.points[id(c)] = s

    def matches(self, pairs: Sequence[tuple[Candidate, Candidate]]) -> list[float]:
        """For each (x, y): (P(x, y) + 1 - P(y, x)) / 2."""
        self.comparisons += 2 * len(pairs)
        if not pairs:
            return []
        if self.pairwise:
            asked = [p for x, y in pairs for p in ((x, y), (y, x))]
            probs = self.scorer.compare(asked)  # type: ignore[attr-defined]
            return [(probs[2 * i] + 1.0 - probs[2 * i + 1]) / 2 for i in range(len(pairs))]
        out = []
        for x, y in pairs:
            sx, sy = self.points[id(x)], self.points[id(y)]
            out.append(1.0 if sx > sy else 0.0 if sx < sy else 0.5)
        return out


def full_wins(groups: Sequence[Sequence[Candidate]], cmp: _Comparator) -> list[list[float]]:
    """Per group, per answer: its summed both-order win probability against every other answer."""
    pairs = [(g, i, j) for g, cands in enumerate(groups) for i in range(len(cands)) for j in range(i + 1, len(cands))]
    probs = cmp.matches([(groups[g][i], groups[g][j]) for g, i, j in pairs])
    wins = [[0.0] * len(c) for c in groups]
    for (g, i, j), p in zip(pairs, probs, strict=True):
        wins[g][i] += p
        wins[g][j] += 1.0 - p
    return wins


def _best(wins: Sequence[float]) -> tuple[int, float]:
    return max(((i, w) for i, w in enumerate(wins)), key=lambda t: (t[1], -t[0]))


def rank_full(groups: Sequence[Sequence[Candidate]], cmp: _Comparator) -> list[tuple[int, float]]:
    """Per group: (winner index, its summed win probability)."""
    return [_best(ws) for ws in full_wins(groups, cmp)]


def bubble_pass(
    groups: Sequence[Sequence[Candidate]], cmp: _Comparator
) -> tuple[list[tuple[int, float]], list[list[float]]]:
    """One pass keeping the best: per group (winner index, its last match's win probability), and
    per answer its win probability in the last match it played (1.0 for a lone answer)."""
    best = [(0, 1.0) for _ in groups]
    last = [[1.0] * len(cands) for cands in groups]
    for step in range(1, max((len(g) for g in groups), default=0)):
        live = [g for g, cands in enumerate(groups) if step < len(cands)]
        probs = cmp.matches([(groups[g][best[g][0]], groups[g][step]) for g in live])
        for g, p in zip(live, probs, strict=True):
            last[g][best[g][0]], last[g][step] = p, 1.0 - p
            best[g] = (step, 1.0 - p) if p < 0.5 else (best[g][0], p)
    return best, last


def rank_bubble(groups: Sequence[Sequence[Candidate]], cmp: _Comparator) -> list[tuple[int, float]]:
    """Per group: (winner index, its last match's win probability), by one pass keeping the best."""
    return bubble_pass(groups, cmp)[0]


class RankAggregator(Aggregator):
    description = "whole answers from every model, ranked by pairwise comparison (full or bubble)"
    Config = RankConfig
    config: RankConfig
    needs_scorer = True

    def run(self, examples: Sequence[Example], ctx: EnsembleContext) -> list[Result]:
        cfg = self.config
        if ctx.scorer is None:
            raise UsageError("the rank aggregator needs a scorer (a pairwise one such as 'judge', or any scorer)")
        settings = ctx.settings if cfg.temperature is None else replace(ctx.settings, temperature=cfg.temperature)
        per_member = [write_answers(m, examples, settings, ctx, n=cfg.n, chunk_tokens=cfg.chunk_tokens)
                      for m in ctx.members]
        prompt_tokens = per_member[0][1]
        answers = [[a for ans, _ in per_member for a in ans[e]] for e in range(len(examples))]
        live = [e for e in range(len(examples)) if not ctx.is_cancelled(e)]
        groups = [[Candidate(examples[e], "", a.member, a.segment) for a in answers[e]] for e in live]
        cmp = _Comparator(ctx.scorer, groups)
        if cfg.mode == "full":
            figures = full_wins(groups, cmp)
            ranked = [_best(ws) for ws in figures]
        else:
            ranked, figures = bubble_pass(groups, cmp)
        chosen = dict(zip(live, ranked, strict=True))
        traces = dict(zip(live, figures, strict=True))
        results = []
        for e, ex in enumerate(examples):
            generated = sum(len(a.segment.token_ids) for a in answers[e])
            if e not in chosen:
                results.append(cancelled_result(ex, prompt_tokens[e], generated))
                continue
            i, score = chosen[e]
            best = answers[e][i]
            seg = best.segment
            ctx.emit(e, seg.text, best.member)
            results.append(Result(
                ex.id, seg.text, seg.finish_reason,
                attribution=[Attribution(best.member, 0, seg.text, len(seg.token_ids), score)],
                usage=Usage(prompt_tokens[e], len(seg.token_ids), generated), rounds=1, stop_cause=stop_cause(seg),
                summary={"trace": [round_record(0, [TraceCandidate(a.member, a.segment.text, f, {"sample": a.sample})
                                                    for a, f in zip(answers[e], traces[e], strict=True)], i)]},
            ))
        return results
