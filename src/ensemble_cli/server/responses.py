"""Response bodies: choices, usage, the ``ensemble`` account and log-probs in OpenAI's shapes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ..core.components import Generator
from ..core.types import Result, TokenScores
from .schemas import (
    AttributionOut,
    ChatChoice,
    ChatCompletionResponse,
    ChatMessageOut,
    CompletionChoice,
    CompletionLogprobs,
    CompletionResponse,
    EnsembleChoice,
    EnsembleInfo,
    Usage,
)
from .service import Plan, first_generator


def output_logprobs(plan: Plan, results: Sequence[Result], scores: Sequence[TokenScores]) -> list[list[Any]]:
    """Per choice: ``(token text, logprob, [(top token text, logprob), ...])`` for each output token."""
    gen = first_generator(plan.pipeline)
    items = [gen.continuation_item(ex, "", r.output) for ex, r in zip(plan.examples, results, strict=True)]
    k = plan.logprobs or 0
    out = []
    for item, sc in zip(items, scores, strict=True):
        rows = []
        for pos, tid in enumerate(item.target_ids):
            top = sc.top_logprobs[pos] if pos < len(sc.top_logprobs) else []
            rows.append((gen.decode_ids([tid]), float(sc.logprobs[pos]),
                         [(gen.decode_ids([t]), float(v)) for t, v in top[:k]]))
        out.append(rows)
    return out


def completion_logprobs(rows: list[Any], offset: int) -> CompletionLogprobs:
    offsets, at = [], offset
    for text, _, _ in rows:
        offsets.append(at)
        at += len(text)
    return CompletionLogprobs(
        tokens=[t for t, _, _ in rows],
        token_logprobs=[lp for _, lp, _ in rows],
        top_logprobs=[{**dict(top), t: lp} for t, lp, top in rows],
        text_offset=offsets,
    )


def chat_logprobs(rows: list[Any]) -> dict[str, Any]:
    def entry(text: str, lp: float) -> dict[str, Any]:
        return {"token": text, "logprob": lp, "bytes": list(text.encode("utf-8"))}

    return {"content": [{**entry(t, lp), "top_logprobs": [entry(a, b) for a, b in top]} for t, lp, top in rows]}


def _usage(prompt: int, completion: int) -> Usage:
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def result_usage(plan: Plan, results: Sequence[Result]) -> Usage:
    prompt = sum(results[p * plan.n].usage.prompt_tokens for p in range(len(results) // max(plan.n, 1)))
    return _usage(prompt, sum(r.usage.completion_tokens for r in results))


def ensemble_info(plan: Plan, results: Sequence[Result]) -> EnsembleInfo:
    resolved = plan.pipeline.resolved
    return EnsembleInfo(
        recipe=resolved.name,
        recipe_hash=resolved.hash,
        aggregator=resolved.aggregator.type,
        choices=[
            EnsembleChoice(
                index=i,
                selected_models=r.selected_models,
                attribution=[AttributionOut(model=a.model, round=a.round, text=a.text, tokens=a.tokens,
                                            score=a.score) for a in r.attribution],
                rounds=r.rounds,
                stop_cause=r.stop_cause,
                generated_tokens=r.usage.generated_tokens,
                trace=r.summary.get("trace"),
            )
            for i, r in enumerate(results)
        ],
    )


def completion_response(plan: Plan, results: Sequence[Result], rid: str,
                        logprobs: list[list[Any]] | None = None) -> CompletionResponse:
    choices = []
    for i, r in enumerate(results):
        head = plan.prompts[i // plan.n] if plan.echo else ""
        lp = completion_logprobs(logprobs[i], len(head)) if logprobs is not None else None
        choices.append(CompletionChoice(index=i, text=head + r.output, logprobs=lp,
                                        finish_reason=r.finish_reason or "length"))
    return CompletionResponse(id=rid, created=int(time.time()), model=plan.model, choices=choices,
                              usage=result_usage(plan, results), ensemble=ensemble_info(plan, results))


def chat_response(plan: Plan, results: Sequence[Result], rid: str,
                  logprobs: list[list[Any]] | None = None) -> ChatCompletionResponse:
    choices = [
        ChatChoice(index=i, message=ChatMessageOut(content=r.output), finish_reason=r.finish_reason or "length",
                   logprobs=chat_logprobs(logprobs[i]) if logprobs is not None else None)
        for i, r in enumerate(results)
    ]
    return ChatCompletionResponse(id=rid, created=int(time.time()), model=plan.model, choices=choices,
                                  usage=result_usage(plan, results), ensemble=ensemble_info(plan, results))


def _top(gen: Generator, entries: Sequence[tuple[int, float]], k: int, actual: int, lp: float) -> dict[str, float]:
    """vLLM's shape: the top ``k`` plus the actual token (with exactly its own log-prob)."""
    out = {gen.decode_ids([tid]): float(v) for tid, v in entries[:k]}
    out[gen.decode_ids([actual])] = float(lp)
    return out


def loglikelihood_response(plan: Plan, scores: Sequence[TokenScores], rid: str) -> CompletionResponse:
    assert plan.loglikelihood is not None
    gen = first_generator(plan.pipeline)
    k = plan.logprobs or 0
    choices, prompt_tokens = [], 0
    for p, (ids, sc) in enumerate(zip(plan.loglikelihood, scores, strict=True)):
        tokens = [gen.decode_ids([t]) for t in ids]
        logps: list[float | None] = [None]
        tops: list[dict[str, float] | None] = [None]
        for pos, tid in enumerate(ids[1:]):
            logps.append(float(sc.logprobs[pos]))
            tops.append(_top(gen, sc.top_logprobs[pos] if pos < len(sc.top_logprobs) else [], k, tid, sc.logprobs[pos]))
        text = plan.prompts[p]
        finish = "length"
        if plan.max_tokens == 1:  # the greedy next token after the whole prompt
            tid, lp = sc.top_logprobs[-1][0]
            piece = gen.decode_ids([tid])
            tokens.append(piece)
            logps.append(float(lp))
            tops.append(_top(gen, sc.top_logprobs[-1], k, tid, lp))
            text += piece
        offsets, pos_chars = [], 0
        for t in tokens:
            offsets.append(pos_chars)
            pos_chars += len(t)
        logprobs = CompletionLogprobs(tokens=tokens, token_logprobs=logps, top_logprobs=tops, text_offset=offsets)
        prompt_tokens += len(ids)
        for c in range(plan.n):
            choices.append(CompletionChoice(index=p * plan.n + c, text=text, logprobs=logprobs, finish_reason=finish))
    usage = _usage(prompt_tokens, plan.max_tokens * len(choices))
    return CompletionResponse(id=rid, created=int(time.time()), model=plan.model, choices=choices, usage=usage)
