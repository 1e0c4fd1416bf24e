"""The ``best-of-n`` aggregator: each selected member writes ``n`` whole answers; the scorer picks one.

All members' answers for an example are scored together as one group (``Candidate`` with an empty
prefix), so group-relative scorers (``vote``, ``consensus``, ``weighted``) compare every answer
with every other. The highest score wins; ties go to the member listed first, then the lower
sample index. With greedy decoding (``temperature: 0``) a member's ``n`` samples are identical,
so set ``temperature`` here (it overrides the recipe's for the samples) or in ``generation``.

The chosen answer is emitted in one piece once it is chosen (nothing is final before). The
result's attribution is that answer with its score; ``usage.generated_tokens`` counts every
sample. A cancelled example stops its sampling early and ends with an empty output
(``stop_cause: cancelled``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pydantic import Field

from ..core.components import Aggregator, Candidate, ComponentConfig, EnsembleContext
from ..core.types import Attribution, Example, Result, Usage
from ..errors import UsageError
from .full_answers import Answer, cancelled_result, stop_cause, write_answers


class BestOfNConfig(ComponentConfig):
    n: int = Field(4, gt=0, description="answers each selected member writes per example")
    temperature: float | None = Field(None, ge=0, description="sampling temperature (default: the recipe's)")
    chunk_tokens: int = Field(64, gt=0, description="tokens per generate call (how often cancellation is checked)")


def pick(answers: Sequence[Answer], scores: Sequence[float]) -> int:
    """Index of the best answer; ties go to the earliest (member order, then sample)."""
    return max(range(len(answers)), key=lambda i: (scores[i], -i))


class BestOfNAggregator(Aggregator):
    description = "each model writes n whole answers; the scorer's best one is the output"
    Config = BestOfNConfig
    config: BestOfNConfig
    needs_scorer = True

    def run(self, examples: Sequence[Example], ctx: EnsembleContext) -> list[Result]:
        cfg = self.config
        if ctx.scorer is None:
            raise UsageError("the best-of-n aggregator needs a scorer")
        settings = ctx.settings if cfg.temperature is None else replace(ctx.settings, temperature=cfg.temperature)
        per_member = [write_answers(m, examples, settings, ctx, n=cfg.n, chunk_tokens=cfg.chunk_tokens)
                      for m in ctx.members]
        prompt_tokens = per_member[0][1]
        pools = [[a for answers, _ in per_member for a in answers[e]] for e in range(len(examples))]
        live = [e for e in range(len(examples)) if not ctx.is_cancelled(e)]
        flat = [Candidate(examples[e], "", a.member, a.segment) for e in live for a in pools[e]]
        scores = ctx.scorer.score(flat) if flat else []
        results: list[Result] = []
        offset = 0
        for e, ex in enumerate(examples):
            generated = sum(len(a.segment.token_ids) for a in pools[e])
            if e not in live:
                results.append(cancelled_result(ex, prompt_tokens[e], generated))
                continue
            own = scores[offset : offset + len(pools[e])]
            offset += len(pools[e])
            best = pools[e][pick(pools[e], own)]
            seg = best.segment
            ctx.emit(e, seg.text)
            results.append(Result(
                ex.id, seg.text, seg.finish_reason,
                attribution=[Attribution(best.member, 0, seg.text, len(seg.token_ids), own[pools[e].index(best)])],
                usage=Usage(prompt_tokens[e], len(seg.token_ids), generated), rounds=1, stop_cause=stop_cause(seg),
            ))
        return results
