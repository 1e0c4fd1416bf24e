"""The ``reward-model`` scorer on a tiny random-weight Llama sequence classifier (real SmolLM2 tokenizer)."""

from __future__ import annotations

import pytest
import torch

from ensemble_cli.core.components import Candidate
from ensemble_cli.core.types import Example, Segment
from ensemble_cli.scorers.reward_model import RewardModelConfig, RewardModelScorer
from tiny_scoring import pooled, tiny_reward_model

EX = Example("q", [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of Italy?"}])


@pytest.fixture(scope="module")
def model_tok():
    return tiny_reward_model()


def make(model_tok, **params):
    return pooled(RewardModelScorer(RewardModelConfig(model="tiny-rm", **params)), "sequence-classification",
                  *model_tok)


def cand(text, prefix=""):
    return Candidate(EX, prefix, "m", Segment([1], text, [-1.0], "stop"))


def test_layout_is_the_chat_template_with_the_response_as_assistant_turn(model_tok):
    _, tok = model_tok
    (ids,) = make(model_tok).inputs([cand(" Rome.", prefix="It is")])
    assert tok.decode(ids) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nCapital of Italy?<|im_end|>\n"
        "<|im_start|>assistant\nIt is Rome.<|im_end|>\n"
    )


def test_batched_scores_equal_single_unpadded_forward(model_tok):
    model, _ = model_tok
    s = make(model_tok, batch_size=4)
    cands = [cand("Rome."), cand("It is Rome, the capital city of Italy since 1871."), cand(""), cand("Paris")]
    got = s.score(cands)
    for c, g in zip(cands, got, strict=True):
        (ids,) = s.inputs([c])
        with torch.inference_mode():
            ref = float(model(input_ids=torch.tensor([ids])).logits[0, 0])
        assert g == pytest.approx(ref, abs=1e-4)
    assert len(set(got)) == 4


def test_left_truncation(model_tok):
    full = make(model_tok).inputs([cand("word " * 50)])[0]
    (cut,) = make(model_tok, max_length=20).inputs([cand("word " * 50)])
    assert cut == full[-20:]
    assert len(make(model_tok, max_length=20).score([cand("word " * 50)])) == 1


def test_a_tokenizer_without_chat_template_is_a_load_error(model_tok):
    import copy

    from ensemble_cli.errors import ModelLoadError

    model, tok = model_tok
    bare = copy.deepcopy(tok)
    bare.chat_template = None
    s = pooled(RewardModelScorer(RewardModelConfig(model="tiny-rm")), "sequence-classification", model, bare)
    with pytest.raises(ModelLoadError, match="reward model tokenizer has no chat template"):
        s.score([cand("x")])
