"""The ``best-of-n`` aggregator: each selected member writes ``n`` whole answers; the scorer picks one.

``n`` is one count for every member, or a count per member (``n: {big: 2, small: 3}``: a vote of
mixed members at a fixed budget, the cheap member sampled more); a per-member ``n`` must name every
model of the recipe.

All members' answers for an example are scored together as one group (``Candidate`` with an empty
prefix), so group-relative scorers (``vote``, ``consensus``, ``weighted``) compare every answer
with every other. The highest score wins. On a tie, an answer that ended (EOS or stop string)
beats one cut off at ``max_tokens`` (its final answer is a guess from mid-reasoning); then
``tie_break`` decides: ``first`` (the member listed first, then the lower sample index: list the
stronger member first) or ``logprob`` (the higher mean token log-prob under its writer; still
tied: ``first``). Ties are common under ``vote``: five samples with five different answers, or
two answers with two votes each. With greedy decoding (``temperature: 0``) a member's ``n`` samples are identical,
so set ``temperature`` here (it overrides the recipe's for the samples) or in ``generation``.

The chosen answer is emitted in one piece once it is chosen (nothing is final before). The
result's attribution is that answer with its score; ``usage.generated_tokens`` counts every
sample. ``summary.candidates`` lists every sample (member, sample index, its final answer as
``extract_answer`` reads it, score, finish reason, tokens, mean log-prob, which one was chosen):
the records alone then say why a vote went the way it did, and a what-if analysis can re-vote any
subset of the samples (``benchmarks/vote_whatif.py``) without generating again. ``summary.trace``
is the same choice as one round of the shared trace (``aggregators.trace``: each sample's text cut
to 200 characters, its score, ``sample``, ``answer``), what the web UI shows. A cancelled
example stops its sampling early and ends with an empty output
(``stop_cause: cancelled``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

from pydantic import Field, PositiveInt

from ..core.components import Aggregator, Candidate, ComponentConfig, EnsembleContext
from ..core.types import Attribution, Example, Result, Usage
from ..errors import Problem, UsageError
from .full_answers import Answer, answer_record, cancelled_result, final_answers, stop_cause, write_answers
from .trace import TraceCandidate, finite, round_record


class BestOfNConfig(ComponentConfig):
    n: PositiveInt | dict[str, PositiveInt] = Field(
        4, description="answers each selected member writes per example, or per member name ({big: 2, small: 3})"
    )
    temperature: float | None = Field(None, ge=0, description="sampling temperature (default: the recipe's)")
    chunk_tokens: int = Field(64, gt=0, description="tokens per generate call (how often cancellation is checked)")
    tie_break: Literal["first", "logprob"] = Field(
        "first", description="among equal scores: the earliest answer, or the highest mean token log-prob"
    )
    record_candidates: bool = Field(
        True, description="list every sample (member, final answer, score, tokens) in the record's summary"
    )


TieBreak = Literal["first", "logprob"]


def sample_count_problems(n: int | dict[str, int], models: Sequence[str]) -> list[Problem]:
    """Recipe cross-check of a per-member sample count: known names, and no model left without one."""
    if isinstance(n, int):
        return []
    problems = [Problem(f"n.{name}", f"{name!r} is not a model of this recipe ({', '.join(models)})")
                for name in n if name not in models]
    missing = [m for m in models if m not in n]
    if missing:
        problems.append(Problem("n", f"no sample count for {', '.join(map(repr, missing))} (name every model)"))
    return problems


def samples_of(n: int | dict[str, int], member: str) -> int:
    """How many answers ``member`` writes (a per-member ``n`` names every model: recipe_problems)."""
    if isinstance(n, int):
        return n
    if member not in n:
        raise UsageError(f"best-of-n: n names no sample count for member {member!r}")
    return n[member]


def pick(answers: Sequence[Answer], scores: Sequence[float], tie_break: TieBreak = "first") -> int:
    """Index of the best answer: highest score; on a tie an ended answer beats a cut-off one, then
    ``tie_break`` (``first``: the earliest, i.e. member order then sample; ``logprob``: the highest
    mean token log-prob, then the earliest)."""

    def key(i: int) -> tuple[float, bool, float, int]:
        seg = answers[i].segment
        confidence = seg.mean_logprob if tie_break == "logprob" else 0.0
        return (scores[i], seg.finish_reason == "stop", confidence, -i)

    return max(range(len(answers)), key=key)


class BestOfNAggregator(Aggregator):
    description = "each model writes n whole answers; the scorer's best one is the output"
    Config = BestOfNConfig
    config: BestOfNConfig
    needs_scorer = True

    @classmethod
    def recipe_problems(cls, config: ComponentConfig, models: Sequence[str]) -> list[Problem]:
        """A per-member ``n`` names models of the recipe, and every one of them."""
        assert isinstance(config, BestOfNConfig)
        return sample_count_problems(config.n, models)

    def run(self, examples: Sequence[Example], ctx: EnsembleContext) -> list[Result]:
        cfg = self.config
        if ctx.scorer is None:
            raise UsageError("the best-of-n aggregator needs a scorer")
        settings = ctx.settings if cfg.temperature is None else replace(ctx.settings, temperature=cfg.temperature)
        per_member = [write_answers(m, examples, settings, ctx, n=samples_of(cfg.n, m.name),
                                    chunk_tokens=cfg.chunk_tokens) for m in ctx.members]
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
            chosen = pick(pools[e], own, cfg.tie_break)
            best = pools[e][chosen]
            seg = best.segment
            ctx.emit(e, seg.text, best.member)
            results.append(Result(
                ex.id, seg.text, seg.finish_reason,
                attribution=[Attribution(best.member, 0, seg.text, len(seg.token_ids), own[chosen])],
                usage=Usage(prompt_tokens[e], len(seg.token_ids), generated), rounds=1, stop_cause=stop_cause(seg),
                summary=_summary(pools[e], own, chosen) if cfg.record_candidates else {},
            ))
        return results


def _summary(answers: Sequence[Answer], scores: Sequence[float], chosen: int) -> dict[str, Any]:
    finals = final_answers(answers)
    return {"candidates": candidate_records(answers, scores, chosen, finals),
            "trace": [candidate_trace(answers, scores, chosen, finals)]}


def candidate_records(
    answers: Sequence[Answer], scores: Sequence[float], chosen: int, finals: Sequence[str | None]
) -> list[dict[str, Any]]:
    """One small dict per sample for the record (no text: the chosen one is the output)."""
    return [{**answer_record(a, final), "score": finite(score), "chosen": i == chosen}
            for i, (a, score, final) in enumerate(zip(answers, scores, finals, strict=True))]


def candidate_trace(
    answers: Sequence[Answer], scores: Sequence[float], chosen: int, finals: Sequence[str | None]
) -> dict[str, Any]:
    """The choice as the trace's one round: every sample with its (cut) text, score and final answer."""
    cands = [TraceCandidate(a.member, a.segment.text, score, {"sample": a.sample, "answer": final})
             for a, score, final in zip(answers, scores, finals, strict=True)]
    return round_record(0, cands, chosen)
