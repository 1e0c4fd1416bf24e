"""Batch-invariant forwards for transformers models on CPU: a row computes the very same bits alone or batched.

Why a batched row differed from the same row alone (``benchmarks/batch_invariance_probe.py`` shows it
per op, for SmolLM2 and Gemma-3 in bf16): the math is row-independent, two kernels' reduction
orders are not.

* **Attention.** With left padding, a row's keys sit at other offsets of a wider key axis; SDPA's
  blocked online softmax (and the vectorised sums of the math path) then groups the same terms
  differently, so the same keys give a different rounding (up to 1e-3 in bf16 after one layer).
* **Linear layers.** oneDNN picks its bf16 GEMM kernel by M, the number of rows in the call. In a
  prefill, M is the batch's padded token count, so one row's tokens went through another kernel
  than alone (1 ulp differences, e.g. ``v_proj`` at M=37 vs M=296; the output head at M=33..256).

Norms, rotary embeddings, activations, residual adds and the log-softmax are per row and were
already exact. Under :func:`invariant_forward` (the session or scorer says which columns of each
row are real):

* every ``nn.Linear`` computes a row's multi-token chunk in one call over exactly its real tokens
  (the same M as alone), and single tokens (decode steps, the output head) in calls of exactly
  ``BLOCK`` rows, padded with zeros: one kernel whatever the batch;
* attention runs row by row over exactly the keys the row may see (a slice found from the mask) and
  only its real queries, so the reduction is the one the row has alone.

Outside the context the model computes as before: the patched ``Linear.forward`` and the attention
function are one ``ContextVar`` lookup away from the originals (transformers' ``sdpa``). The price
is per-row kernel calls: see the README's figures.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ..core.invariance import single_threaded
from ..errors import GenerationError

#: Rows per linear call for single tokens. 16 rows: one AMX tile; a decode step at batch <= 16 is one call.
BLOCK = 16
ATTENTION = "ensemble_batch_invariant"


@dataclass(frozen=True)
class _Plan:
    real: tuple[int, ...]  # real tokens of each row: the first ``real[i]`` columns of the chunk
    width: int  # the chunk's padded length
    spans: dict[int, list[Any]] = field(default_factory=dict, compare=False)  # per mask: _row_spans


_PLAN: ContextVar[_Plan | None] = ContextVar("ensemble_batch_invariant_plan", default=None)


@contextlib.contextmanager
def invariant_forward(model: Any, real: Sequence[int], width: int) -> Iterator[None]:
    """Run the model's forwards inside this block batch-invariantly.

    ``real[i]`` is the number of real tokens in row i's chunk, at its first columns (right padding);
    ``width`` the chunk's length. Rows with no real token are skipped (their outputs are zeros).
    """
    prepare(model)
    token = _PLAN.set(_Plan(tuple(int(r) for r in real), int(width)))
    try:
        with single_threaded():
            yield
    finally:
        _PLAN.reset(token)


def prepare(model: Any) -> None:
    """Switch the model to our attention and wrap its linear layers (once per model).

    Outside :func:`invariant_forward` both behave exactly as before (transformers' ``sdpa`` attention
    and mask, the original ``Linear.forward``), so the switch is made once and for good: toggling the
    shared config per call would race between threads running the same model (``--concurrency``).
    """
    if getattr(model, "_ensemble_invariant_ready", False):
        return
    impl = model.config._attn_implementation
    if impl not in ("sdpa", ATTENTION):
        raise GenerationError(
            f"generation.batch_invariant needs transformers' sdpa attention; {type(model).__name__} uses '{impl}'"
        )
    _register_attention()
    model.config._attn_implementation = ATTENTION
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and "forward" not in module.__dict__:
            module.forward = _linear_forward(module)
    model._ensemble_invariant_ready = True


def _linear_forward(module: torch.nn.Linear) -> Any:
    original = module.forward

    def forward(x: torch.Tensor) -> torch.Tensor:
        plan = _PLAN.get()
        if plan is None:
            return original(x)
        return _invariant_linear(x, module.weight, module.bias, plan)

    return forward


def _invariant_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, plan: _Plan) -> torch.Tensor:
    if x.dim() == 3 and plan.width > 1 and x.shape[0] == len(plan.real) and x.shape[1] == plan.width:
        out = x.new_zeros(x.shape[0], x.shape[1], weight.shape[0])
        singles = [i for i, r in enumerate(plan.real) if r == 1]
        for i, r in enumerate(plan.real):
            if r > 1:
                out[i, :r] = F.linear(x[i, :r], weight, bias)
        if singles:
            out[singles, 0] = _blocked_linear(x[singles, 0], weight, bias)
        return out
    flat = x.reshape(-1, x.shape[-1])
    return _blocked_linear(flat, weight, bias).reshape(*x.shape[:-1], weight.shape[0])


def _blocked_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.linear`` in calls of exactly ``BLOCK`` rows (zero-padded): the kernel never depends on the row count."""
    m = x.shape[0]
    pad = (-m) % BLOCK
    if pad:
        x = F.pad(x, (0, 0, 0, pad))
    if x.shape[0] == BLOCK:
        return F.linear(x, weight, bias)[:m]
    return torch.cat([F.linear(chunk, weight, bias) for chunk in x.split(BLOCK)])[:m]


def _attention(
    module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attention_mask: torch.Tensor | None,
    dropout: float = 0.0, scaling: float | None = None, **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Row by row SDPA over exactly the keys each row may see and only its real queries."""
    if kwargs.get("softcap") is not None:
        raise ValueError("batch-invariant attention does not support attention logit soft-capping")
    plan = _PLAN.get()
    if plan is None:  # outside invariant_forward: transformers' own sdpa attention, as before
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout, scaling, **kwargs)
    batch, heads, t, _ = query.shape
    spans = plan.spans.get(id(attention_mask))
    if spans is None:  # once per forward and mask (layers of one kind share it)
        spans = plan.spans[id(attention_mask)] = _row_spans(attention_mask, plan.real, t, key.shape[2])
    gqa = key.shape[1] != heads
    out = query.new_zeros(batch, t, heads, value.shape[-1])
    for i, span in enumerate(spans):
        if span is None:
            continue
        r, start, stop, allowed = span
        o = F.scaled_dot_product_attention(
            query[i : i + 1, :, :r], key[i : i + 1, :, start:stop], value[i : i + 1, :, start:stop],
            attn_mask=allowed, scale=scaling, enable_gqa=gqa,
        )
        out[i, :r] = o[0].transpose(0, 1)
    return out, None


def _row_spans(
    mask: torch.Tensor | None, real: Sequence[int], t: int, kv_len: int
) -> list[tuple[int, int, int, torch.Tensor | None] | None]:
    """Per row: its real queries, the contiguous range of keys they may see, and the mask within it.

    The range is where the row's keys are, wherever padding put them; the mask is ``None`` when
    every query sees every key of the range (a decode step). A row whose visible keys are not one
    contiguous range (not produced by the sessions) is rejected rather than computed another way.
    """
    spans: list[tuple[int, int, int, torch.Tensor | None] | None] = []
    for i, r in enumerate(real):
        if r == 0:
            spans.append(None)
            continue
        if mask is None:  # no padding anywhere: causal, aligned to the end of the keys
            allowed = torch.ones(r, kv_len, dtype=torch.bool).tril(kv_len - t)
        else:
            m = mask[i if mask.shape[0] > 1 else 0, 0, :r]
            allowed = m if m.dtype == torch.bool else m == 0
        cols = allowed.any(dim=0).nonzero().squeeze(1).tolist()
        if not cols:
            spans.append(None)
            continue
        start, stop = cols[0], cols[-1] + 1
        if len(cols) != stop - start:
            raise ValueError(f"row {i} sees keys that are not one contiguous range: no batch-invariant attention")
        sub = allowed[:, start:stop]
        spans.append((r, start, stop, None if bool(sub.all()) else sub.contiguous()[None, None]))
    return spans


def _register_attention() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    if ATTENTION in AttentionInterface._global_mapping:
        return

    def bool_mask(*args: Any, **kwargs: Any) -> Any:
        if _PLAN.get() is not None:
            kwargs["allow_is_causal_skip"] = False  # always a full boolean mask: each row's keys are read from it
        return sdpa_mask(*args, **kwargs)

    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION, bool_mask)
    AttentionInterface.register(ATTENTION, _attention)
