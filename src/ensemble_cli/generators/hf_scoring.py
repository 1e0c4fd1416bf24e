"""Teacher-forced scoring for transformers models: log-probs of *given* tokens.

Used where a model must judge text it did not write: zscore's prompt statistics, judgment's yes/no
mass, scorers under a named member, the server's loglikelihood requests. Unlike sessions there is
no KV cache to reuse, so each item is one forward pass over context + target, batched.

Memory is the constraint, not compute: a 262k vocabulary makes full logits for a 500-token prompt
half a gigabyte. So the base model runs to its last hidden state, and the output head is applied
only at the positions that predict a target (or query) token, a bounded number of positions at a
time (``_LOGIT_BUDGET`` floats).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

import torch

from ..core.types import ScoreItem, TokenScores
from .hf_invariant import invariant_forward

_TOKENS_PER_BATCH = 8192  # padded tokens per forward pass
_LOGIT_BUDGET = 32 * 1024 * 1024  # float32 logits materialised at once


def score_items(
    model: Any, items: Sequence[ScoreItem], *, pad_id: int, top_k: int = 0, batch_invariant: bool = False
) -> list[TokenScores]:
    """Score every item; results in input order. ``batch_invariant``: each item's scores are the bits
    it gets scored alone (see ``hf_invariant``), whatever else is scored with it."""
    for i, item in enumerate(items):
        if not item.context_ids:
            raise ValueError(f"score item {i} has an empty context (the first token has nothing to condition on)")
    order = sorted(range(len(items)), key=lambda i: len(items[i].context_ids) + len(items[i].target_ids))
    results: list[TokenScores | None] = [None] * len(items)
    batch: list[int] = []
    for i in order:
        length = len(items[i].context_ids) + len(items[i].target_ids)
        if batch and length * (len(batch) + 1) > _TOKENS_PER_BATCH:
            _score_batch(model, items, batch, pad_id, top_k, results, batch_invariant)
            batch = []
        batch.append(i)
    if batch:
        _score_batch(model, items, batch, pad_id, top_k, results, batch_invariant)
    return [r for r in results if r is not None]


@torch.inference_mode()
def _score_batch(
    model: Any, items: Sequence[ScoreItem], batch: list[int], pad_id: int, top_k: int,
    results: list[TokenScores | None], invariant: bool = False,
) -> None:
    device = next(model.parameters()).device
    seqs = [items[i].context_ids + items[i].target_ids for i in batch]
    width = max(len(s) for s in seqs)
    input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros((len(seqs), width), dtype=torch.long, device=device)
    for r, s in enumerate(seqs):  # right padding: causal attention keeps pads out of real positions
        input_ids[r, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[r, : len(s)] = 1
    base = getattr(model, model.base_model_prefix)
    with invariant_forward(model, [len(s) for s in seqs], width) if invariant else contextlib.nullcontext():
        hidden = base(input_ids=input_ids, attention_mask=mask, use_cache=False).last_hidden_state

    # Positions whose next-token distribution is needed: one per target token, one for the queries.
    rows: list[int] = []
    cols: list[int] = []
    spans: list[tuple[int, int, int]] = []  # per item: start in the gathered list, n targets, has query
    for r, i in enumerate(batch):
        item = items[i]
        start, n_ctx, n_tgt = len(rows), len(item.context_ids), len(item.target_ids)
        last = n_ctx + n_tgt - 1 if item.query_ids else n_ctx + n_tgt - 2
        for pos in range(n_ctx - 1, last + 1):
            rows.append(r)
            cols.append(pos)
        spans.append((start, n_tgt, 1 if item.query_ids else 0))
    targets = [t for i in batch for t in items[i].target_ids + ([0] if items[i].query_ids else [])]
    index = torch.tensor([rows, cols], dtype=torch.long, device=device).reshape(2, -1)  # long even when empty
    gathered = hidden[index[0], index[1]]
    targets_t = torch.tensor(targets, dtype=torch.long, device=device)
    with invariant_forward(model, [1] * gathered.shape[0], 1) if invariant else contextlib.nullcontext():
        per_pos = _head_stats(model, gathered, targets_t, top_k, items, batch, spans)

    for (start, n_tgt, has_query), i in zip(spans, batch, strict=True):
        lp, greedy, mx, cert, top, query = per_pos
        results[i] = TokenScores(
            logprobs=lp[start : start + n_tgt],
            greedy=greedy[start : start + n_tgt],
            max_logprobs=mx[start : start + n_tgt],
            certainty=cert[start : start + n_tgt],
            top_logprobs=top[start : start + n_tgt] if top_k else [],
            query_logprobs=query.get(start + n_tgt, []) if has_query else [],
        )


def _head_stats(
    model: Any, hidden: torch.Tensor, targets: torch.Tensor, top_k: int,
    items: Sequence[ScoreItem], batch: list[int], spans: list[tuple[int, int, int]],
) -> tuple[list[float], list[bool], list[float], list[float], list[list[tuple[int, float]]], dict[int, list[float]]]:
    head = model.get_output_embeddings()
    softcap = getattr(model.config, "final_logit_softcapping", None)
    query_at = {start + n_tgt: items[i].query_ids for (start, n_tgt, q), i in zip(spans, batch, strict=True) if q}
    vocab = head.weight.shape[0]
    chunk = max(1, _LOGIT_BUDGET // vocab)
    lp: list[float] = []
    greedy: list[bool] = []
    mx: list[float] = []
    cert: list[float] = []
    top: list[list[tuple[int, float]]] = []
    query: dict[int, list[float]] = {}
    for s in range(0, hidden.shape[0], chunk):
        logits = head(hidden[s : s + chunk]).float()
        if softcap:
            logits = torch.tanh(logits / softcap) * softcap
        logp = torch.log_softmax(logits, dim=-1)
        best, arg = logp.max(dim=-1)
        tgt = targets[s : s + chunk]
        lp.extend(logp.gather(1, tgt[:, None])[:, 0].tolist())
        greedy.extend((arg == tgt).tolist())
        mx.extend(best.tolist())
        cert.extend((-math.log(vocab) - logp.mean(dim=-1)).tolist())
        if top_k:
            vals, ids = logp.topk(min(top_k, vocab), dim=-1)
            top.extend([list(zip(i, v, strict=True)) for i, v in zip(ids.tolist(), vals.tolist(), strict=True)])
        for pos, qids in query_at.items():
            if s <= pos < s + logits.shape[0]:
                query[pos] = logp[pos - s, torch.tensor(qids, device=logp.device)].tolist()
    return lp, greedy, mx, cert, top, query
