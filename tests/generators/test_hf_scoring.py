"""Teacher-forced scoring equals what the full model computes, token by token, in any batch."""

from __future__ import annotations

import math

import pytest
import torch

from ensemble_cli.core.types import Example, ScoreItem
from ensemble_cli.errors import UnsupportedError
from tiny_models import make_generator, tiny_gemma3, tiny_llama


def _reference(model, context, target, query):
    ids = torch.tensor([context + target])
    with torch.inference_mode():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
    n = len(context)
    lp = [logp[n - 1 + j, t].item() for j, t in enumerate(target)]
    mx = [logp[n - 1 + j].max().item() for j in range(len(target))]
    cert = [(-math.log(logp.shape[-1]) - logp[n - 1 + j].mean()).item() for j in range(len(target))]
    q = [logp[n + len(target) - 1, i].item() for i in query]
    return lp, mx, cert, q


@pytest.mark.parametrize("build", [tiny_llama, tiny_gemma3], ids=["llama", "gemma3"])
def test_scores_match_full_forward_in_a_mixed_batch(build):
    model, tok = build()
    gen = make_generator(model, tok)
    ex = Example("a", [{"role": "user", "content": "What is 2 + 3?"}])
    long_ctx = gen.encode_prompt(ex) + gen.encode_text(" Let me think about this for a while. " * 3)
    items = [
        gen.continuation_item(ex, "The answer", " is 5.\n\nDone."),
        ScoreItem(long_ctx, gen.encode_text(" Five"), query_ids=gen.encode_text(" yes") + gen.encode_text(" no")),
        ScoreItem(gen.encode_text("Hi"), []),
        ScoreItem(gen.encode_prompt(ex)[:1], gen.encode_prompt(ex)[1:]),
    ]
    got = gen.score_tokens(items, top_k=3)
    assert len(got) == len(items)
    for item, s in zip(items, got, strict=True):
        lp, mx, cert, q = _reference(model, item.context_ids, item.target_ids, item.query_ids)
        assert len(s.logprobs) == len(item.target_ids)
        assert s.logprobs == pytest.approx(lp, abs=1e-4)
        assert s.max_logprobs == pytest.approx(mx, abs=1e-4)
        assert s.certainty == pytest.approx(cert, abs=1e-3)
        assert s.query_logprobs == pytest.approx(q, abs=1e-4)
        assert s.greedy == [abs(a - b) < 1e-6 for a, b in zip(s.logprobs, s.max_logprobs, strict=True)]
        for top, best in zip(s.top_logprobs, s.max_logprobs, strict=True):
            assert len(top) == 3 and top[0][1] == pytest.approx(best, abs=1e-5)
            assert top[0][1] >= top[1][1] >= top[2][1]
    assert got[2].logprobs == [] and got[2].mean == 0.0


def test_continuation_item_splits_where_tokenizations_agree():
    model, tok = tiny_llama()
    gen = make_generator(model, tok)
    ex = Example("a", [{"role": "user", "content": "Say hi"}])
    item = gen.continuation_item(ex, "Hello", " world")
    prompt = gen.encode_prompt(ex)
    assert item.context_ids[: len(prompt)] == prompt
    assert gen.decode_ids(item.context_ids[len(prompt) :] + item.target_ids) == "Hello world"
    assert gen.decode_ids(item.target_ids) == " world"


def test_empty_context_is_refused_and_default_generator_is_unsupported():
    model, tok = tiny_llama()
    gen = make_generator(model, tok)
    with pytest.raises(ValueError, match="empty context"):
        gen.score_tokens([ScoreItem([], [1, 2])])

    from ensemble_cli.core.components import Generator

    class Remote(Generator):
        def open(self, examples, settings, *, salt=""):
            raise NotImplementedError

    with pytest.raises(UnsupportedError, match="cannot score tokens"):
        Remote().score_tokens([ScoreItem([1], [2])])
