"""The ``judgment`` selector: yes/no token sets per tokenizer, P(yes) against a plain forward pass."""

from __future__ import annotations

import pytest
import torch

from aggregator_checks import EXAMPLES
from ensemble_cli.errors import RecipeError
from ensemble_cli.plugins import get_registry
from ensemble_cli.recipe import validate_recipe
from ensemble_cli.selectors.judgment import (
    DEFAULT_QUESTION,
    NO,
    YES,
    JudgmentConfig,
    JudgmentSelector,
    answer_ids,
    judge_example,
    yes_probability,
)


def decoded(gen, ids):
    return sorted(gen.tokenizer.decode([i]) for i in ids)


def test_yes_no_token_sets_per_tokenizer(tiny_members):
    llama, gemma = (m.generator for m in tiny_members)
    # SmolLM2's BPE splits "YES" (and " YES") into two tokens: left out; "NO" is one token
    assert decoded(llama, answer_ids(llama, YES)) == sorted(["yes", " yes", "Yes", " Yes"])
    assert decoded(llama, answer_ids(llama, NO)) == sorted(["no", " no", "No", " No", "NO", " NO"])
    # Gemma-3's SentencePiece vocabulary has every spelling as one token
    assert decoded(gemma, answer_ids(gemma, YES)) == sorted(["yes", " yes", "Yes", " Yes", "YES", " YES"])
    assert decoded(gemma, answer_ids(gemma, NO)) == sorted(["no", " no", "No", " No", "NO", " NO"])
    for gen in (llama, gemma):
        assert not set(answer_ids(gen, YES)) & set(answer_ids(gen, NO))


def test_judge_prompt_wraps_the_last_user_turn():
    ex = EXAMPLES[0]
    judged = judge_example(ex, DEFAULT_QUESTION)
    assert judged.messages[-1]["content"].startswith(ex.messages[-1]["content"] + "\n\n")
    assert ex.messages[-1]["content"] == "What is 7 times 8?"  # the request itself is untouched


def test_yes_probability_matches_a_plain_forward_pass(tiny_members):
    for member in tiny_members:
        gen = member.generator
        got = yes_probability(gen, EXAMPLES, DEFAULT_QUESTION)
        yes, no = answer_ids(gen, YES), answer_ids(gen, NO)
        for ex, p in zip(EXAMPLES, got, strict=True):
            ids = gen.prompt_ids(judge_example(ex, DEFAULT_QUESTION).messages)
            with torch.no_grad():
                probs = torch.softmax(gen.loaded.model(torch.tensor([ids])).logits[0, -1].float(), dim=-1)
            expected = probs[yes].sum() / (probs[yes].sum() + probs[no].sum())
            assert p == pytest.approx(expected.item(), rel=1e-4)


def test_top_k_selection_is_deterministic(tiny_members):
    one = JudgmentSelector(JudgmentConfig(top_k=1)).select(EXAMPLES, tiny_members)
    assert one == JudgmentSelector(JudgmentConfig(top_k=1)).select(EXAMPLES, tiny_members)
    scores = {m.name: yes_probability(m.generator, EXAMPLES, DEFAULT_QUESTION) for m in tiny_members}
    for i, names in enumerate(one):
        assert names == [max(["llama", "gemma"], key=lambda n: scores[n][i])]
    both = JudgmentSelector(JudgmentConfig(top_k=2)).select(EXAMPLES, tiny_members)
    assert both == [["llama", "gemma"]] * len(EXAMPLES)


def test_recipe_errors():
    models = [{"name": "smol", "params": {"model": "smollm2-135m-instruct"}}]
    data = {"name": "t", "models": models, "aggregator": "loop",
            "selector": {"type": "judgment", "params": {"top_k": 2, "question": "no placeholder"}}}
    with pytest.raises(RecipeError) as err:
        validate_recipe(data, get_registry())
    assert [p.path for p in err.value.problems] == ["selector.params.question"]
    data["selector"]["params"]["question"] = "{prompt}?"
    with pytest.raises(RecipeError) as err:
        validate_recipe(data, get_registry())
    assert [p.path for p in err.value.problems] == ["selector.params.top_k"]
