"""``generation.batch_invariant``: a row gives the same bits alone and inside any batch.

Tiny random-weight Llama and Gemma-3 models with the real tokenizers, in bfloat16 (the default
dtype), and also in float32. Equality is exact: token ids, log-probs (floats compared with ``==``),
teacher-forced scores, and the outputs of the ``union`` and ``reward`` ensembles.
"""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch

from ensemble_cli.aggregators.reward import RewardAggregator, RewardConfig
from ensemble_cli.aggregators.union import UnionAggregator
from ensemble_cli.core.components import EnsembleContext, Member
from ensemble_cli.core.invariance import batch_invariant, batch_invariant_scope
from ensemble_cli.core.types import Example, GenerationSettings, ScoreItem
from ensemble_cli.errors import GenerationError
from ensemble_cli.generators.hf_invariant import ATTENTION
from ensemble_cli.generators.hf_scoring import score_items
from ensemble_cli.scorers.logprob import LogprobConfig, LogprobScorer
from tiny_models import make_generator, tiny_gemma3, tiny_llama

PROMPTS = [
    "What is 2+3? Explain step by step.",
    "Name a colour.",
    "Write one long sentence about the sea and its waves, the wind and the boats.",
    "Hi",
    "List three fruits and say which one you like best, and why.",
    "Tell me about the moon.",
    "A class of 24 students is split into groups of 4. How many groups are there? Show the work.",
    "7 times 8?",
]
EXAMPLES = [Example(f"e{i}", [{"role": "user", "content": p}]) for i, p in enumerate(PROMPTS)]
FOREIGN = [" The answer is interest", "ing colour", "\n\nThe sea 🌊 is", " ok", " Apples,", " It", " 24/4", " 56"]
INVARIANT = GenerationSettings(max_tokens=64, batch_invariant=True)
BUILD = {"llama": lambda: tiny_llama(1), "gemma3": lambda: tiny_gemma3(2)}


def _gen(family: str, dtype: torch.dtype):
    model, tok = BUILD[family]()
    return make_generator(model.to(dtype), tok, f"{family}-{dtype}")


@pytest.fixture(scope="module", params=[(f, d) for f in sorted(BUILD) for d in ("bfloat16", "float32")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def gen(request):
    family, dtype = request.param
    return _gen(family, getattr(torch, dtype))


def script(gen, rows: list[int], settings: GenerationSettings = INVARIANT):
    """Generate, roll back by a row-dependent amount, append foreign text, generate again: per-row results."""
    s = gen.open([EXAMPLES[i] for i in rows], settings)
    a = s.generate(9, ignore_eos=True)
    for j, i in enumerate(rows):
        s.rollback(j, min(len(a[j].token_ids), 1 + i))
    s.append([FOREIGN[i] for i in rows])
    b = s.generate([4 + 2 * i for i in rows], ignore_eos=True)
    c = s.generate(20, ignore_eos=True)  # crosses the tiny Gemma-3 sliding window (16)
    return [
        (a[j].token_ids, a[j].logprobs, b[j].token_ids, b[j].logprobs, c[j].token_ids, c[j].logprobs, s.text(j))
        for j in range(len(rows))
    ]


@pytest.mark.parametrize("rows", [[0, 3], [1, 2, 4, 6, 7], list(range(8))], ids=["batch2", "batch5", "batch8"])
def test_a_row_alone_equals_the_row_in_a_batch_exactly(gen, rows):
    batched = script(gen, rows)
    for j, i in enumerate(rows):
        assert script(gen, [i])[0] == batched[j], f"row {i} differs inside the batch {rows}"


def test_batches_in_another_order_give_the_same_rows(gen):
    rows = [5, 0, 7, 2]
    forward = script(gen, rows)
    backward = script(gen, rows[::-1])[::-1]
    assert forward == backward


def test_teacher_forced_scores_alone_equal_scores_in_a_batch(gen):
    lm = gen.loaded
    items = [
        ScoreItem(context_ids=gen.prompt_ids(ex.messages), target_ids=gen.encode_text(FOREIGN[i]),
                  query_ids=[5, 9] if i % 2 else [])
        for i, ex in enumerate(EXAMPLES)
    ]
    together = score_items(lm.model, items, pad_id=lm.pad_id, top_k=3, batch_invariant=True)
    for i, item in enumerate(items):
        alone = score_items(lm.model, [item], pad_id=lm.pad_id, top_k=3, batch_invariant=True)[0]
        assert alone == together[i], f"item {i}"


def test_the_switch_reaches_scoring_through_the_scope(gen, monkeypatch):
    seen = []
    import ensemble_cli.generators.hf_scoring as hf_scoring

    real = hf_scoring.score_items
    monkeypatch.setattr(hf_scoring, "score_items", lambda *a, **k: seen.append(k["batch_invariant"]) or real(*a, **k))
    item = ScoreItem(context_ids=gen.prompt_ids(EXAMPLES[0].messages), target_ids=gen.encode_text(" ok"))
    gen.score_tokens([item])
    with batch_invariant_scope(True):
        assert batch_invariant()
        gen.score_tokens([item])
    assert not batch_invariant()
    assert seen == [False, True]


@pytest.fixture(scope="module")
def members():
    return [Member("l", _gen("llama", torch.bfloat16)), Member("g", _gen("gemma3", torch.bfloat16))]


def _outputs(results):
    """Text, attribution (with its scores) and summary of each result."""
    return [(r.output, [asdict(a) for a in r.attribution], r.summary) for r in results]


@pytest.mark.parametrize("kind", ["union", "reward-logprob-writer", "reward-logprob-under-all"])
def test_ensembles_give_each_row_its_alone_result(members, kind):
    settings = GenerationSettings(max_tokens=24, batch_invariant=True, ignore_eos=True)
    if kind == "union":
        agg, scorer = UnionAggregator(UnionAggregator.Config()), None
    else:
        agg = RewardAggregator(RewardConfig(segment_tokens=6, max_rounds=4))
        scorer = LogprobScorer(LogprobConfig(under="all" if kind.endswith("all") else "writer"))
        scorer.bind(members)

    def run(examples):
        with batch_invariant_scope(True):
            return agg.run(examples, EnsembleContext(members, scorer, settings))

    batched = _outputs(run(EXAMPLES[:5]))
    for i in range(5):
        assert _outputs(run([EXAMPLES[i]]))[0] == batched[i], f"row {i}"


@pytest.mark.parametrize("family", sorted(BUILD))
def test_the_default_mode_is_unchanged_once_a_model_ran_invariant(family):
    """The switch is made on the shared model once; outside the mode it must compute as before."""
    fresh, used = _gen(family, torch.bfloat16), _gen(family, torch.bfloat16)
    script(used, [0, 1])  # prepares ``used`` for the mode
    assert used.loaded.model.config._attn_implementation == ATTENTION
    default = GenerationSettings(max_tokens=64)
    assert script(used, [0, 1, 2], default) == script(fresh, [0, 1, 2], default)


def test_a_model_without_sdpa_attention_is_refused_by_name():
    model, tok = tiny_llama(1)
    model.config._attn_implementation = "eager"
    gen = make_generator(model, tok, "eager")
    with pytest.raises(GenerationError, match="LlamaForCausalLM uses 'eager'"):
        gen.open(EXAMPLES[:1], INVARIANT).generate(2)


@pytest.mark.parametrize("rows", [[2], [0, 2, 5]], ids=["alone", "batch3"])
def test_text_read_in_one_chunk_gives_the_logits_of_one_token_at_a_time(gen, rows):
    """A token's logits do not depend on how its text was split into forwards: a 6-token chunk
    (a catch-up, a speculative verification) equals six decode steps, bit for bit."""
    examples = [EXAMPLES[i] for i in rows]
    chunked, stepped = gen.open(examples, INVARIANT), gen.open(examples, INVARIANT)
    drafts = [gen.encode_text(FOREIGN[i])[:3] + gen.encode_text(" and so on")[:3] for i in rows]
    chunked.next_logits(), stepped.next_logits()  # both have read their prompts
    chunked.feed(drafts, [None] * len(rows))
    spans = chunked.span_logits([len(d) for d in drafts])
    for k in range(max(len(d) for d in drafts)):
        stepped.feed([d[k : k + 1] for d in drafts], [None] * len(rows))
        step = stepped.next_logits()
        for j, d in enumerate(drafts):
            if k < len(d):
                assert torch.equal(spans[j, k], step[j]), f"row {rows[j]}, token {k}"
