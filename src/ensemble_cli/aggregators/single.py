"""The ``single`` aggregator: one model writes the whole answer — the plain baseline.

The first selected member generates until EOS, a stop string or ``generation.max_tokens``. It is
what ``ensemble bench`` runs for "each member alone", and what a single-model recipe (a server in
front of one model) uses. Generation proceeds in ``chunk_tokens`` pieces on the same KV-cached
session, so the output can be streamed and cancelled between pieces at no extra forward cost;
the pieces are one attribution entry per chunk, concatenating to the output exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from ..core.components import Aggregator, ComponentConfig, EnsembleContext
from ..core.sessions import SessionBatch
from ..core.types import Attribution, Example, Result, Usage


class SingleConfig(ComponentConfig):
    chunk_tokens: int = Field(32, gt=0, description="tokens per generate call (the streaming granularity)")


class SingleAggregator(Aggregator):
    description = "the first selected model writes the whole answer alone (the single-model baseline)"
    Config = SingleConfig
    config: SingleConfig

    def run(self, examples: Sequence[Example], ctx: EnsembleContext) -> list[Result]:
        settings = ctx.settings
        member = ctx.members[0]
        session = member.generator.open(examples, settings, salt=member.name)
        results = [
            Result(ex.id, usage=Usage(prompt_tokens=session.prompt_length(i)), stop_cause=None)
            for i, ex in enumerate(examples)
        ]
        if settings.max_tokens <= 0:
            for res in results:
                res.finish_reason, res.stop_cause = "length", "max_tokens"
            return results
        return write_to_end(ctx, session, member.name, list(range(len(examples))), results, self.config.chunk_tokens)


def write_to_end(
    ctx: EnsembleContext, session: SessionBatch, writer: str, active: list[int], results: list[Result],
    chunk_tokens: int, *, fixed_round: int | None = None,
) -> list[Result]:
    """One member writes each example in ``active`` (session row i = ``active[i]``) to its end, in
    ``chunk_tokens`` pieces: emitted as they come, stopped on EOS/stop string, ``max_tokens`` or
    cancellation. Attribution rounds count the chunks, unless ``fixed_round`` names the round (moa's
    final answer), in which case ``Result.rounds`` is left to the caller."""
    settings = ctx.settings
    rnd = 0
    while active:
        budgets = [min(chunk_tokens, settings.max_tokens - results[e].usage.completion_tokens) for e in active]
        segs = session.generate(budgets, stop=settings.stop, temperature=settings.temperature,
                                top_p=settings.top_p, ignore_eos=settings.ignore_eos)
        keep: list[int] = []
        for row, (e, seg) in enumerate(zip(active, segs, strict=True)):
            res = results[e]
            res.output += seg.text
            res.usage.completion_tokens += len(seg.token_ids)
            res.usage.generated_tokens += len(seg.token_ids)
            if fixed_round is None:
                res.rounds = rnd + 1
            if seg.token_ids or seg.text:
                res.attribution.append(Attribution(writer, rnd if fixed_round is None else fixed_round,
                                                   seg.text, len(seg.token_ids)))
            ctx.emit(e, seg.text, writer)
            ctx.progress(e, res.usage.completion_tokens, rnd + 1)
            if seg.finish_reason == "stop":
                res.finish_reason, res.stop_cause = "stop", seg.stopped_by
            elif res.usage.completion_tokens >= settings.max_tokens:
                res.finish_reason, res.stop_cause = "length", "max_tokens"
            elif ctx.is_cancelled(e):
                res.finish_reason, res.stop_cause = "stop", "cancelled"
            else:
                keep.append(row)
        session.retain(keep)
        active = [active[row] for row in keep]
        rnd += 1
    return results
