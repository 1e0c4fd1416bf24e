"""Integration tier: the real offline default models (converted into the cache on first use)."""

from __future__ import annotations

import pytest
import torch

from ensemble_cli.core.types import Example, GenerationSettings
from ensemble_cli.generators.hf import HFConfig, HFGenerator

pytestmark = pytest.mark.integration

PROMPTS = [
    Example("gsm", [{"role": "user", "content": "Tom has 3 apples and buys 5 more. How many apples does he have?"}]),
    Example("cap", [{"role": "user", "content": "What is the capital of Italy?"}]),
]


@pytest.fixture(scope="module", params=["smollm2-135m-instruct", "gemma3-270m"])
def gen(request):
    g = HFGenerator(HFConfig(model=request.param, dtype="float32"))
    g.load()
    return g


def test_incremental_session_with_foreign_text_matches_generate(gen):
    assert_foreign_text_continues_like_generate(gen, PROMPTS, [" Let's count: 3 + 5", " The capital"])


def assert_foreign_text_continues_like_generate(gen: HFGenerator, prompts: list[Example], foreign: list[str]) -> None:
    """Own candidate rolled back, another model's text appended, continued: equals plain generate
    (greedy, 16 tokens) on the prompt plus that text. Shared with the large-model tier."""
    sessions = gen.open(prompts, GenerationSettings())
    first = sessions.generate(6)
    for i in range(len(prompts)):
        sessions.rollback(i, len(first[i].token_ids))
    sessions.append(foreign)
    segs = sessions.generate(16)
    lm = gen.loaded
    for i, ex in enumerate(prompts):
        ids = gen.prompt_ids(ex.messages) + gen.tokenizer.encode(foreign[i], add_special_tokens=False)
        ref = lm.model.generate(
            torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=16, do_sample=False, pad_token_id=lm.pad_id,
        )[0, len(ids):].tolist()
        got = segs[i].token_ids
        assert got == ref[: len(got)]
        if segs[i].finish_reason == "stop":
            assert got[-1] in lm.eos_ids


def test_batched_equals_unbatched_real(gen):
    batched = gen.open(PROMPTS, GenerationSettings()).generate(12)
    for i, ex in enumerate(PROMPTS):
        solo = gen.open([ex], GenerationSettings()).generate(12)[0]
        assert solo.token_ids == batched[i].token_ids
