"""Integration tier for the large aliases (the ``large-models`` extra): skipped, with the reason,
when their part packages are not installed. Converted into the cache on first use (about 1 min for
the 0.5B, 3–4 min for the 1.5B here)."""

from __future__ import annotations

import pytest

from ensemble_cli.core.types import Example, GenerationSettings
from ensemble_cli.generators.hf import HFConfig, HFGenerator
from ensemble_cli.models import get_alias
from integration.test_real_models import PROMPTS, assert_foreign_text_continues_like_generate

pytestmark = pytest.mark.integration

Q05, Q15 = "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"


def _need(name: str) -> None:
    alias = get_alias(name)
    assert alias is not None and alias.parts is not None
    missing = alias.parts.missing()
    if missing:
        pytest.skip(f"{name} needs the [{alias.parts.extra}] extra ({len(missing)} part packages missing, "
                    f"e.g. {missing[0].package}): pip install 'ensemble-cli[{alias.parts.extra}]'")


def _generator(name: str, dtype: str) -> HFGenerator:
    _need(name)
    gen = HFGenerator(HFConfig(model=name, dtype=dtype))
    gen.load()
    return gen


@pytest.fixture(scope="module")
def qwen05_bf16():
    return _generator(Q05, "bfloat16")


def test_the_0_5b_answers_a_demo_question(qwen05_bf16):
    """Greedy, chat template, bf16: the right answers, and it stops at ``<|im_end|>`` on its own."""
    gen = qwen05_bf16
    tok = gen.tokenizer
    assert tok.eos_token == "<|im_end|>"
    assert {tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")} <= gen.loaded.eos_ids
    prompt = tok.decode(gen.prompt_ids([{"role": "user", "content": "hi"}]))
    assert prompt.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    examples = [Example("sum", [{"role": "user", "content": "Tom has 3 apples and buys 5 more. How many apples "
                                                            "does he have? Answer with the number only."}]),
                Example("cap", [{"role": "user", "content": "What is the capital of Italy? One word."}])]
    segs = gen.open(examples, GenerationSettings(max_tokens=48)).generate(48)
    assert "8" in segs[0].text, segs[0].text
    assert "Rome" in segs[1].text, segs[1].text
    assert all(s.finish_reason == "stop" and s.stopped_by == "eos" for s in segs), [s.text for s in segs]
    assert not any("<|" in s.text for s in segs)


def test_the_0_5b_session_with_foreign_text_matches_generate():
    gen = _generator(Q05, "float32")  # exact equality needs float32, as for the small models
    assert_foreign_text_continues_like_generate(gen, PROMPTS, [" Let's count: 3 + 5", " The capital"])


def test_the_two_sizes_share_one_tokenizer_so_token_level_is_the_easy_case():
    """Same vocabulary mapping, same end ids, same logit width: the union is one shared map."""
    from transformers import AutoTokenizer

    from ensemble_cli.models import resolve_model
    from ensemble_cli.vocab.union import union_vocab

    _need(Q05)
    _need(Q15)
    a, b = (AutoTokenizer.from_pretrained(resolve_model(n)) for n in (Q05, Q15))
    assert a.get_vocab() == b.get_vocab() and a.eos_token == b.eos_token == "<|im_end|>"
    # The templates differ only inside a string of the tool-calling instructions (the 1.5B's writes its
    # JSON example with doubled braces ``{{ }}``, the 0.5B's with single ones); without tools they agree.
    for chat in ([{"role": "user", "content": "hi"}],
                 [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]):
        assert a.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) == \
            b.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    eos = {a.convert_tokens_to_ids("<|im_end|>"), a.convert_tokens_to_ids("<|endoftext|>")}
    u = union_vocab([a, b], [eos, eos], [151936, 151936], use_cache=False)
    assert u.shared and u.members[0] is u.members[1]
