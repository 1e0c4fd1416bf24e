"""Writing whole answers: what the response-level aggregators (best-of-n, rank, moa) share.

``write_answers`` has one member write ``n`` complete answers per example (to EOS, a stop string
or ``max_tokens``), all examples and samples in one batched session. Sample ``k`` of an example is
that example under the id ``"<id>#k"`` (sample 0 keeps the plain id), so its sampling seed is
fixed by the recipe seed, the example, the member and ``k``, never by the batch's composition,
and sample 0 is exactly what the ``single`` aggregator would write. Generation runs in
``chunk_tokens`` pieces on the same KV-cached session so a cancelled example stops between pieces
(its rows are dropped) at no extra forward cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..core.components import EnsembleContext, Member
from ..core.types import Example, GenerationSettings, Result, Segment
from .trace import finite


@dataclass
class Answer:
    """One whole answer by one member (``segment`` joins the chunks it was written in)."""

    member: str
    sample: int
    segment: Segment


def sample_example(example: Example, k: int) -> Example:
    return example if k == 0 else replace(example, id=f"{example.id}#{k}")


def _join(a: Segment, b: Segment) -> Segment:
    return Segment(a.token_ids + b.token_ids, a.text + b.text, a.logprobs + b.logprobs, b.finish_reason, b.stopped_by)


def write_answers(
    member: Member,
    examples: Sequence[Example],
    settings: GenerationSettings,
    ctx: EnsembleContext,
    *,
    n: int = 1,
    chunk_tokens: int = 64,
) -> tuple[list[list[Answer]], list[int]]:
    """``n`` whole answers per example by ``member`` and the prompt length of each example.

    Examples for which ``ctx.is_cancelled`` turns true stop early; their answers are cut short
    (``finish_reason "length"``). After every chunk each example still being written is reported
    to ``ctx.progress`` (0 output tokens: no answer is chosen yet). Returns
    ``answers[example][sample]``.
    """
    rows = [(e, k) for e in range(len(examples)) for k in range(n)]
    session = member.generator.open([sample_example(examples[e], k) for e, k in rows], settings, salt=member.name)
    prompt_tokens = [session.prompt_length(e * n) for e in range(len(examples))]
    segs = [Segment([], "", [], "length") for _ in rows]
    active = list(range(len(rows)))  # row index of each session row
    chunks = 0
    while active:
        budgets = [min(chunk_tokens, settings.max_tokens - len(segs[r].token_ids)) for r in active]
        out = session.generate(budgets, stop=settings.stop, temperature=settings.temperature,
                               top_p=settings.top_p, ignore_eos=settings.ignore_eos)
        keep = []
        chunks += 1
        for e in dict.fromkeys(rows[r][0] for r in active):  # no answer is chosen yet: 0 output tokens
            ctx.progress(e, 0, chunks)
        for pos, (r, seg) in enumerate(zip(active, out, strict=True)):
            segs[r] = _join(segs[r], seg)
            done = seg.finish_reason == "stop" or len(segs[r].token_ids) >= settings.max_tokens
            if not done and not ctx.is_cancelled(rows[r][0]):
                keep.append(pos)
        session.retain(keep)
        active = [active[p] for p in keep]
    answers: list[list[Answer]] = [[] for _ in examples]
    for (e, k), seg in zip(rows, segs, strict=True):
        answers[e].append(Answer(member.name, k, seg))
    return answers, prompt_tokens


def final_answers(answers: Sequence[Answer]) -> list[str | None]:
    """Each answer's final answer as ``extract_answer`` reads it (what a vote counts; the records
    show it beside each sample's score or proposal, so a reader sees who agreed with whom)."""
    from ..answers import extract_answer

    found = [extract_answer(a.segment.text) for a in answers]
    return [f.text if f else None for f in found]


def answer_record(answer: Answer, final: str | None) -> dict[str, Any]:
    """The fields every recorded whole answer has (``summary.candidates``, ``summary.proposals``)."""
    seg = answer.segment
    return {"member": answer.member, "sample": answer.sample, "answer": final, "finish_reason": seg.finish_reason,
            "tokens": len(seg.token_ids), "mean_logprob": finite(seg.mean_logprob)}


def stop_cause(seg: Segment) -> str:
    return seg.stopped_by or "max_tokens"


def cancelled_result(example: Example, prompt_tokens: int, generated: int) -> Result:
    """The result of an example cancelled before its answer was chosen: nothing was emitted."""
    from ..core.types import Usage

    return Result(example.id, "", "stop", usage=Usage(prompt_tokens, 0, generated), stop_cause="cancelled")
