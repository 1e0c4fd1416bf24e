"""Session correctness on tiny random-weight Llama and Gemma-3 models with the real tokenizers.

The reference for every check is plain ``model.generate`` (or a single-row session) on the same full
context: incremental sessions that roll back, append foreign text and run batched must produce the
very same greedy tokens.
"""

from __future__ import annotations

import pytest
import torch

from ensemble_cli.core.types import Example, GenerationSettings
from tiny_models import make_generator, tiny_gemma3, tiny_llama

MODELS = {"llama": tiny_llama, "gemma3": tiny_gemma3}
SETTINGS = GenerationSettings(max_tokens=64)

EXAMPLES = [
    Example("a", [{"role": "user", "content": "What is 2+3? Explain step by step."}]),
    Example("b", [{"role": "user", "content": "Name a colour."}]),
    Example("c", [{"role": "user", "content": "Write one long sentence about the sea and its waves."}]),
]
FOREIGN = [" The answer is interest", "ing ’é colour", "\n\nThe sea 🌊 is"]


@pytest.fixture(scope="module", params=sorted(MODELS))
def gen(request):
    model, tok = MODELS[request.param]()
    return make_generator(model, tok, request.param)


def reference(gen, example: Example, cont_ids: list[int], n: int) -> list[int]:
    """Greedy tokens of plain ``model.generate`` on prompt + continuation, without eos stopping."""
    lm = gen.loaded
    ids = gen.prompt_ids(example.messages) + cont_ids
    out = lm.model.generate(
        torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
        max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=lm.pad_id,
    )
    return out[0, len(ids):].tolist()


def test_generate_matches_model_generate(gen):
    sessions = gen.open(EXAMPLES, SETTINGS)
    segs = sessions.generate(12)
    for i, ex in enumerate(EXAMPLES):
        ref = reference(gen, ex, [], 12)
        assert segs[i].token_ids == ref[: len(segs[i].token_ids)]
        assert segs[i].finish_reason == ("length" if len(segs[i].token_ids) == 12 else "stop")


def test_append_foreign_text_matches_full_context(gen):
    """Roll back own candidate, append another model's text, continue: same as generate on it all."""
    tok = gen.tokenizer
    sessions = gen.open(EXAMPLES, SETTINGS)
    first = sessions.generate(9)
    for i in range(len(EXAMPLES)):
        sessions.rollback(i, len(first[i].token_ids))
    sessions.append(FOREIGN)
    second = sessions.generate(10)
    for i, ex in enumerate(EXAMPLES):
        ref = reference(gen, ex, tok.encode(FOREIGN[i], add_special_tokens=False), 10)
        assert second[i].token_ids == ref[: len(second[i].token_ids)], i
        assert sessions.text(i) == FOREIGN[i] + second[i].text


def test_append_mid_word_reencodes_only_the_tail(gen):
    """Own segment kept, then foreign text glued to it: only a short tail is re-encoded."""
    tok = gen.tokenizer
    sessions = gen.open(EXAMPLES, SETTINGS)
    own = sessions.generate(7)
    glue = ["ing and", "ly", " ok"]
    sessions.append(glue)
    after = sessions.generate(6)
    for i in range(len(EXAMPLES)):
        assert sessions.text(i) == own[i].text + glue[i] + after[i].text
    # every appended piece costs at most its own tokens + the tail (4) + the pending last token
    bound = sum(len(tok.encode(g, add_special_tokens=False)) + 4 + 1 for g in glue)
    assert sessions.stats.encoded_tokens <= bound


def test_batched_equals_unbatched(gen):
    """Rows of different lengths, rolled back by different amounts, give the single-row result."""
    def script(rows):
        s = gen.open([EXAMPLES[i] for i in rows], SETTINGS)
        a = s.generate(11)
        for j, i in enumerate(rows):  # roll back a row-dependent amount
            s.rollback(j, min(len(a[j].token_ids), 2 + 3 * i))
        s.append([FOREIGN[i] for i in rows])
        b = s.generate([5 + 4 * i for i in rows])
        s.append(["Then, " if i != 1 else None for i in rows])
        c = s.generate(25)  # crosses the tiny Gemma-3 sliding window (16)
        return [(a[j].token_ids, b[j].token_ids, c[j].token_ids, s.text(j)) for j in range(len(rows))]

    batched = script([0, 1, 2])
    for i in range(3):
        assert script([i])[0] == batched[i], f"row {i} differs when batched"


def test_retain_keeps_rows_consistent(gen):
    s = gen.open(EXAMPLES, SETTINGS)
    s.generate(5)
    s.retain([2, 0])
    after = s.generate(6)
    solo = gen.open([EXAMPLES[2]], SETTINGS)
    solo.generate(5)
    assert solo.generate(6)[0].token_ids == after[0].token_ids
    assert len(s) == 2


def test_stop_string_truncates_text_and_reports_stop(gen):
    s = gen.open(EXAMPLES[:1], SETTINGS)
    text = s.generate(20)[0].text
    assert len(text) > 6
    stop = text[3:6]
    seg = gen.open(EXAMPLES[:1], SETTINGS).generate(20, stop=[stop])[0]
    assert seg.finish_reason == "stop" and seg.stopped_by == "stop_string"
    assert seg.text == text[: text.find(stop)]
    assert stop not in seg.text


def test_eos_is_an_honest_stop(gen):
    s = gen.open(EXAMPLES[:1], SETTINGS)
    ids = s.generate(8)[0].token_ids
    s2 = gen.open(EXAMPLES[:1], SETTINGS)
    s2.eos_ids = {ids[4]}  # pretend the 5th greedy token is the end of sequence
    seg = s2.generate(8)[0]
    assert seg.finish_reason == "stop" and seg.stopped_by == "eos"
    assert seg.token_ids == ids[: ids.index(ids[4]) + 1]
    assert len(seg.logprobs) == len(seg.token_ids)


def test_sampling_is_reproducible_by_seed_and_independent_of_batch(gen):
    hot = GenerationSettings(max_tokens=64, temperature=1.0, top_p=0.9, seed=7)
    a = gen.open(EXAMPLES, hot).generate(10, temperature=1.0, top_p=0.9)
    b = gen.open(EXAMPLES, hot).generate(10, temperature=1.0, top_p=0.9)
    c = gen.open(EXAMPLES[1:2], hot).generate(10, temperature=1.0, top_p=0.9)
    other = GenerationSettings(max_tokens=64, temperature=1.0, top_p=0.9, seed=8)
    d = gen.open(EXAMPLES, other).generate(10, temperature=1.0, top_p=0.9)
    assert [x.token_ids for x in a] == [x.token_ids for x in b]
    assert c[0].token_ids == a[1].token_ids
    assert [x.token_ids for x in a] != [x.token_ids for x in d]


def test_logprobs_are_the_models_own(gen):
    s = gen.open(EXAMPLES[:1], SETTINGS)
    seg = s.generate(4)[0]
    lm = gen.loaded
    ids = gen.prompt_ids(EXAMPLES[0].messages) + seg.token_ids
    with torch.inference_mode():
        logits = lm.model(torch.tensor([ids])).logits[0].float().log_softmax(-1)
    start = len(ids) - len(seg.token_ids)
    expected = [logits[start - 1 + k, t].item() for k, t in enumerate(seg.token_ids)]
    assert seg.logprobs == pytest.approx(expected, abs=1e-4)


def test_next_logits_and_feed_step_like_generate(gen):
    """A caller that picks each token itself (token-level ensembles) walks generate's exact path."""
    tok = gen.tokenizer
    ref = gen.open(EXAMPLES, SETTINGS).generate(8, ignore_eos=True)
    s = gen.open(EXAMPLES, SETTINGS)
    fed: list[list[int]] = [[] for _ in EXAMPLES]
    for _ in range(8):
        chosen = s.next_logits().float().argmax(-1).tolist()
        s.feed([[t] for t in chosen], [None] * len(EXAMPLES))
        for i, t in enumerate(chosen):
            fed[i].append(t)
    assert fed == [seg.token_ids for seg in ref]
    # text given with the ids is the row's text; a later append re-encodes only the tail
    s2 = gen.open(EXAMPLES[:1], SETTINGS)
    ids = tok.encode(" The sea", add_special_tokens=False)
    s2.feed([ids], [" The sea"])
    s2.append([" is blue"])
    assert s2.text(0) == " The sea is blue"
    cont = s2.token_ids(0)[s2.prompt_length(0) :]
    assert tok.decode(cont) == " The sea is blue"
