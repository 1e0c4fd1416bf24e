"""``HFSessionBatch.next_logits(rows=...)``: a forward over some rows only, the others left exactly as they were."""

from __future__ import annotations

import pytest
import torch

from ensemble_cli.core.types import Example, GenerationSettings
from tiny_models import make_generator, tiny_gemma3, tiny_llama

MODELS = {"llama": tiny_llama, "gemma3": tiny_gemma3}
SETTINGS = GenerationSettings(max_tokens=8)
FIVE = [Example(str(i), [{"role": "user", "content": c}]) for i, c in enumerate(
    ["What is 2+3? Explain step by step.", "Name a colour.", "Hi",
     "Write one long sentence about the sea and its waves, please.", "Count to ten in French."])]


@pytest.fixture(scope="module", params=sorted(MODELS))
def gen(request):
    model, tok = MODELS[request.param]()
    return make_generator(model, tok, f"sub-{request.param}")


def _state(session, row):
    """Everything a row owns: ids, text, marks and its block of keys/values (the last ``occupied`` columns)."""
    r = session.rows[row]
    blocks = [(layer.keys[row, :, session.width - r.occupied:].clone(),
               layer.values[row, :, session.width - r.occupied:].clone()) for layer in session._layers()]
    return list(r.ids), r.text, r.cached, r.occupied, blocks


def _same_state(a, b):
    assert a[:4] == b[:4]
    for (ka, va), (kb, vb) in zip(a[4], b[4], strict=True):
        assert torch.equal(ka, kb) and torch.equal(va, vb)


def test_sub_batch_forward_leaves_other_rows_untouched_and_matches_whole_batch(gen):
    sub, whole = gen.open(FIVE, SETTINGS), gen.open(FIVE, SETTINGS)
    sub.next_logits(rows=[1, 3])  # the very first forward, on an empty cache
    whole.next_logits()
    sub.next_logits()  # the other rows' prefill, now into a cache the sub-batch started
    for step, picked in enumerate(([0, 2], [4], [1, 2, 3], [0, 4])):
        texts = [" more" if r in picked else None for r in range(5)]
        sub.append(texts)
        whole.append(texts)
        before = {r: _state(sub, r) for r in range(5) if r not in picked}
        got = sub.next_logits(rows=picked).float()
        ref = whole.next_logits().float()[picked]
        assert got.shape == ref.shape
        torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4, msg=f"step {step}")
        for r, st in before.items():
            _same_state(_state(sub, r), st)
    torch.testing.assert_close(sub.next_logits().float(), whole.next_logits().float(), rtol=1e-4, atol=1e-4)
    assert [sub.token_ids(r) for r in range(5)] == [whole.token_ids(r) for r in range(5)]


def test_sub_batch_rows_are_checked(gen):
    s = gen.open(FIVE[:2], SETTINGS)
    for bad in ([], [1, 0], [2]):
        with pytest.raises(ValueError, match="increasing row indices"):
            s.next_logits(rows=bad)
