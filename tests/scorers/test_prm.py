"""The ``prm`` scorer on a tiny random-weight Qwen2 token-classification PRM (real SmolLM2 tokenizer)."""

from __future__ import annotations

import pytest
import torch

from ensemble_cli.core.components import Candidate
from ensemble_cli.core.types import Example, Segment
from ensemble_cli.scorers.prm import QWEN_PRM_SYSTEM, PRMConfig, PRMScorer, aggregate, split_steps
from tiny_scoring import pooled, tiny_prm

EX = Example("q", [{"role": "user", "content": "What is 2 + 3?"}])


@pytest.fixture(scope="module")
def model_tok():
    return tiny_prm()


def make(model_tok, **params):
    return pooled(PRMScorer(PRMConfig(model="tiny-prm", **params)), "prm", *model_tok)


def cand(text, prefix="", ex=EX):
    return Candidate(ex, prefix, "m", Segment([1], text, [-1.0], "stop"))


def test_split_steps():
    assert split_steps("a\n\n b \n\n\n\nc", "\n\n", "<extra_0>") == ["a", "b", "c"]
    assert split_steps("", "\n\n", "<extra_0>") == [""]
    assert split_steps("x<extra_0>y\n\nz", "\n\n", "<extra_0>") == ["xy", "z"]


def test_exact_layout_is_the_qwen_prm_chat_format(model_tok):
    _, tok = model_tok
    s = make(model_tok)
    (item,) = s.inputs([cand(" 5.\n\nSo \\boxed{5}.", prefix="2 + 3 =")])
    expected = (
        f"<|im_start|>system\n{QWEN_PRM_SYSTEM}<|im_end|>\n"
        "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n"
        "<|im_start|>assistant\n2 + 3 = 5.<extra_0>So \\boxed{5}.<extra_0><|im_end|>\n"
    )
    assert tok.decode(item.ids) == expected
    sep = tok.convert_tokens_to_ids("<extra_0>")
    assert item.separators == [i for i, t in enumerate(item.ids) if t == sep] and len(item.separators) == 2
    assert item.ids.count(sep) == 2 and item.steps == 2


def test_scores_are_positive_probabilities_at_the_separators(model_tok):
    model, _ = model_tok
    s = make(model_tok)
    cands = [cand("one\n\ntwo\n\nthree"), cand("short"), cand("a\n\nb")]
    rewards = s.step_rewards(cands)
    assert [len(r) for r in rewards] == [3, 1, 2]
    for c, r in zip(cands, rewards, strict=True):  # batched + padded == one at a time, by hand
        (item,) = s.inputs([c])
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([item.ids])).logits[0]
        ref = [float(logits[p].softmax(-1)[1]) for p in item.separators]
        assert r == pytest.approx(ref, abs=1e-5)
        assert all(0.0 < x < 1.0 for x in r)
    assert s.score(cands) == pytest.approx([r[-1] for r in rewards])


def test_aggregates(model_tok):
    c = [cand("one\n\ntwo\n\nthree")]
    (r,) = make(model_tok).step_rewards(c)
    assert make(model_tok, aggregate="min").score(c)[0] == pytest.approx(min(r))
    assert make(model_tok, aggregate="mean").score(c)[0] == pytest.approx(sum(r) / 3)
    assert make(model_tok, aggregate="prod").score(c)[0] == pytest.approx(r[0] * r[1] * r[2])
    assert aggregate([0.2, 0.9], "last") == 0.9


def test_left_truncation_keeps_the_last_separator(model_tok):
    _, tok = model_tok
    sep = tok.convert_tokens_to_ids("<extra_0>")
    long = "\n\n".join(f"step {i} adds more and more words to the chain" for i in range(12))
    full = make(model_tok).inputs([cand(long)])[0]
    (cut,) = make(model_tok, max_length=40).inputs([cand(long)])
    assert len(full.ids) > 40 and len(cut.ids) == 40
    assert cut.ids[-1] == sep  # the end-of-turn after it went first, then the context's left end
    end = full.ids.index(sep, full.separators[-1])
    assert cut.ids == full.ids[: end + 1][-40:]
    assert 1 <= len(cut.separators) < len(full.separators) and cut.steps == 12
    # the kept separators score exactly as in the full input (causal model: the left context differs
    # for all positions, so only the count and finiteness are comparable; the last one is present)
    (r,) = make(model_tok, max_length=40).step_rewards([cand(long)])
    assert len(r) == len(cut.separators)


def test_missing_separator_token_is_a_clear_error():
    from ensemble_cli.errors import ModelLoadError
    from tiny_scoring import smol_tokenizer

    model, _ = tiny_prm()
    s = pooled(PRMScorer(PRMConfig(model="tiny-prm")), "prm", model, smol_tokenizer())
    with pytest.raises(ModelLoadError, match="no single token for step separator"):
        s.score([cand("x")])


def test_loads_from_a_folder_through_the_pool(model_tok, tmp_path):
    """The real loading path: a saved checkpoint folder, loaded once per pool and shared."""
    from ensemble_cli.core.pool import ModelPool

    model, tok = model_tok
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    pool = ModelPool()
    a, b = PRMScorer(PRMConfig(model=str(tmp_path), dtype="float32")), PRMScorer(
        PRMConfig(model=str(tmp_path), dtype="float32", aggregate="min", batch_size=2))
    a.pool = b.pool = pool
    got = a.score([cand("x\n\ny")])
    assert got == pytest.approx(make(model_tok).score([cand("x\n\ny")]), abs=1e-5)
    b.score([cand("z")])
    assert pool.loads == 1  # aggregate/batch_size do not change the weights: one load


def test_a_checkpoint_with_its_own_head_loads_through_automodel(tmp_path):
    import json

    from transformers import AutoModel, AutoModelForTokenClassification

    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "qwen2", "architectures": ["Qwen2ForProcessRewardModel"],
        "auto_map": {"AutoConfig": "configuration_qwen2_rm.Qwen2RMConfig",
                     "AutoModel": "modeling_qwen2_rm.Qwen2ForProcessRewardModel"},
    }))
    assert PRMScorer(PRMConfig(model=str(tmp_path)))._auto_class() is AutoModel
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    assert PRMScorer(PRMConfig(model=str(tmp_path)))._auto_class() is AutoModelForTokenClassification


def test_guides_the_reward_aggregator_segment_by_segment(model_tok):
    """Segment-level use: each round's candidates are scored with the output so far as their prefix."""
    from ensemble_cli.aggregators.reward import RewardAggregator, RewardConfig
    from ensemble_cli.core.components import EnsembleContext, Member
    from ensemble_cli.core.types import GenerationSettings
    from tiny_models import make_generator, tiny_gemma3, tiny_llama

    seen: list[Candidate] = []
    prm = make(model_tok)
    inner = prm.score
    prm.score = lambda cands: seen.extend(cands) or inner(cands)  # type: ignore[method-assign]
    members = [Member("llama", make_generator(*tiny_llama(), "llama")),
               Member("gemma", make_generator(*tiny_gemma3(), "gemma"))]
    ctx = EnsembleContext(members, prm, GenerationSettings(max_tokens=12))
    (r,) = RewardAggregator(RewardConfig(segment_tokens=4, max_rounds=3, repeat_guard=False)).run([EX], ctx)
    assert "".join(a.text for a in r.attribution) == r.output
    for a in r.attribution:  # every kept segment had the best PRM score of its round
        rnd = [c for c in seen if c.prefix == "".join(x.text for x in r.attribution[: a.round])]
        assert a.score == pytest.approx(max(prm.score(rnd)), abs=1e-6)
