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

* **Chunks against steps.** The same two causes make a token's logits depend on how its text was
  split into forwards: a k-token chunk (a prefill, a catch-up, a speculative verification) runs its
  linear layers at M = k and its attention as one masked call over k queries, a decode step at
  M = 1 and one unmasked query. So speculative ``union`` (one forward verifies a draft) wrote other
  bf16 text than plain ``union`` (one token per forward), though the math is the same.

Norms, rotary embeddings, activations, residual adds and the log-softmax are per token and were
already exact. Under :func:`invariant_forward` (the session or scorer says which columns of each
row are real):

* every ``nn.Linear`` computes every real token in calls of exactly ``BLOCK`` token rows, padded
  with zeros: one kernel whatever the batch and whatever the chunk;
* attention runs token by token: each real query of each row over exactly the keys it may see (a
  contiguous range found from the mask), unmasked, which is the call a decode step makes.

So a token's logits are the same bits alone or batched, and whether its text came in one chunk or
one token at a time (``tests/generators/test_hf_invariant.py`` checks both).

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
    masks: dict[str, torch.Tensor] = field(default_factory=dict, compare=False)  # per device: real_mask

    def real_mask(self, device: torch.device) -> torch.Tensor:
        """``[rows, width]`` bool: the real columns of each row (computed once per forward)."""
        key = str(device)
        if key not in self.masks:
            self.masks[key] = torch.arange(self.width, device=device)[None, :] < torch.tensor(
                self.real, device=device
            )[:, None]
        return self.masks[key]


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
        real = plan.real_mask(x.device)
        out = x.new_zeros(x.shape[0], x.shape[1], weight.shape[0])
        out[real] = _blocked_linear(x[real], weight, bias)  # every real token, in BLOCK-row calls
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
    """Token by token SDPA: each real query of each row over exactly the keys it may see, unmasked."""
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
    for i, ranges in enumerate(spans):
        for j, (start, stop) in enumerate(ranges):
            if stop == start:
                continue
            o = F.scaled_dot_product_attention(
                query[i : i + 1, :, j : j + 1], key[i : i + 1, :, start:stop], value[i : i + 1, :, start:stop],
                scale=scaling, enable_gqa=gqa,
            )
            out[i, j] = o[0, :, 0]
    return out, None


def _row_spans(mask: torch.Tensor | None, real: Sequence[int], t: int, kv_len: int) -> list[list[tuple[int, int]]]:
    """Per row, per real query: the contiguous range of keys it may see, wherever padding put them
    (``(0, 0)``: none).

    Without a mask (no padding anywhere) a query sees the keys up to its own position, aligned to the
    end of the keys. A query whose visible keys are not one contiguous range (not produced by the
    sessions) is rejected rather than computed another way.
    """
    spans: list[list[tuple[int, int]]] = []
    for i, r in enumerate(real):
        if mask is None:  # causal, aligned to the end of the keys
            spans.append([(0, kv_len - t + j + 1) for j in range(r)])
            continue
        m = mask[i if mask.shape[0] > 1 else 0, 0, :r]
        allowed = m if m.dtype == torch.bool else m == 0
        ranges = []
        for j in range(r):
            cols = allowed[j].nonzero().squeeze(1).tolist()
            if not cols:  # sees nothing: its output stays zeros, as a padded query's
                ranges.append((0, 0))
                continue
            start, stop = cols[0], cols[-1] + 1
            if len(cols) != stop - start:
                raise ValueError(f"row {i} sees keys that are not one contiguous range: no batch-invariant attention")
            ranges.append((start, stop))
        spans.append(ranges)
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
