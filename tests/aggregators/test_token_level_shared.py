"""Token-level methods on members with identical tokenizers (two tiny Llamas, different weights,
SmolLM2's real tokenizer): one shared union map, no text catch-up, one token stream for every
member, and greedy ``union`` equal to a plain token-space weighted average written out here."""

from __future__ import annotations

import pytest
import torch

from ensemble_cli.aggregators.topk_union import TopkUnionAggregator
from ensemble_cli.aggregators.union import UnionAggregator
from ensemble_cli.core.components import EnsembleContext, Member
from ensemble_cli.core.types import Example, GenerationSettings
from ensemble_cli.vocab.union import SPECIAL, build_union, union_vocab, valid_utf8_prefix
from session_recorder import Recorder
from tiny_models import make_generator, tiny_gemma3, tiny_llama

EXAMPLES = [
    Example("a", [{"role": "user", "content": "What is 2+3? Explain step by step."}]),
    Example("b", [{"role": "user", "content": "Name a colour."}]),
]
METHODS = {"union": UnionAggregator, "topk-union": TopkUnionAggregator}


@pytest.fixture(scope="module")
def pair():
    """Two different models that share one tokenizer (as Qwen2.5-Coder 0.5B and 1.5B do): untied and
    with their final norm scaled up, so they disagree often and their distributions are peaked."""
    (a, tok), (b, _) = tiny_llama(1, tie_word_embeddings=False), tiny_llama(3, tie_word_embeddings=False)
    for model in (a, b):
        model.model.norm.weight.data.mul_(40.0)
    return make_generator(a, tok, "llama-a"), make_generator(b, tok, "llama-b")


def run(method, members, settings, **params):
    agg = METHODS[method](METHODS[method].Config(**params))
    return agg.run(EXAMPLES, EnsembleContext(members, None, settings))


def test_identical_tokenizers_are_built_once_and_share_their_map(pair, tmp_path, monkeypatch):
    monkeypatch.setenv("ENSEMBLE_CACHE_DIR", str(tmp_path))
    tok = pair[0].tokenizer
    eos, width = {tok.eos_token_id}, len(tok)
    u = union_vocab([tok, tok], [eos, eos], [width, width])
    assert u.members[0] is u.members[1] and u.shared
    alone = build_union([tok], [eos], [width])
    assert u.blob == alone.blob and u.offsets == alone.offsets and u.end == alone.end
    assert len(list((tmp_path / "vocab").glob("union-*.pt"))) == 1
    again = union_vocab([tok, tok], [eos, eos], [width, width])  # from the disk cache
    assert again.members[0] is again.members[1] and again.shared and again.blob == u.blob


def test_different_tokenizers_are_not_shared():
    (_, ltok), (_, gtok) = tiny_llama(0), tiny_gemma3(0)
    u = union_vocab([ltok, gtok], [{ltok.eos_token_id}, {gtok.eos_token_id}], [len(ltok), len(gtok)],
                    use_cache=False)
    assert not u.shared


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("temperature", [0.0, 0.9])
def test_members_are_fed_the_chosen_token_and_never_catch_up_from_text(method, temperature, pair, monkeypatch):
    settings = GenerationSettings(max_tokens=24, temperature=temperature, seed=5)
    rec = Recorder(monkeypatch)
    results = run(method, [Member("a", pair[0]), Member("b", pair[1])], settings)
    assert rec.appends == 0  # no text catch-up, no tail re-encoding
    tok = pair[0].tokenizer
    disagreed = 0
    for i, res in enumerate(results):
        assert rec.fed[0][i] == rec.fed[1][i]  # one token stream for both members
        assert tok.decode(rec.fed[0][i], skip_special_tokens=False) == res.output
        disagreed += sum(1 for a in res.attribution if a.model in ("a", "b"))
    assert disagreed > 0  # the members really disagreed somewhere (else this proves nothing)
    for s in rec.sessions:
        assert s.stats.encoded_tokens <= sum(len(f) for f in rec.fed[0].values()) + len(EXAMPLES)


def test_gated_members_are_fed_too(pair, monkeypatch):
    settings = GenerationSettings(max_tokens=24)
    rec = Recorder(monkeypatch)
    results = run("union", [Member("a", pair[0]), Member("b", pair[1])], settings, primary="a", threshold=0.3)
    shares = [r.summary["gated_share"] for r in results]
    assert all(0 < g < 1 for g in shares), shares  # some steps gated, some not
    assert rec.appends == 0
    for i in range(len(EXAMPLES)):
        assert rec.fed[0][i] == rec.fed[1][i]



@torch.inference_mode()
def _reference(models, weights, tok, prompt: list[int], union, eos: set[int], max_tokens: int) -> list[int]:
    """Greedy decoding of the weighted average of the members' token probabilities, one entry per
    byte string (a member's best spelling), special tokens never chosen, EOS ends, and an incomplete
    UTF-8 character only continued validly: the union's rules, written without the stepper."""
    entry_of = union.members[0].token_entry
    blocked = (union.kinds == SPECIAL) | ~union.clean
    blocked[union.end] = False
    ids, out = list(prompt), b""
    for _ in range(max_tokens):
        score = torch.zeros(len(union))
        tops = []
        for model, w in zip(models, weights, strict=True):
            p = torch.softmax(model(torch.tensor([ids])).logits[0, -1].float(), dim=-1)
            score += w * torch.zeros(len(union)).scatter_reduce(0, entry_of, p, "amax")
            tops.append(int(p.argmax()))
        pending = out and not _valid_prefix_complete(out)
        if pending:
            ok = torch.tensor([valid_utf8_prefix(out + union.entry_bytes(e)) and union.entry_bytes(e) != b""
                               for e in range(len(union))]) & (union.kinds != SPECIAL)
            ok[union.end] = False
            score = torch.where(ok, score, torch.full_like(score, -1.0))
        else:
            score = score.masked_fill(blocked, -1.0)
        e = int(score.argmax())
        if e == union.end:
            break
        firsts = [t for t in tops if int(entry_of[t]) == e]
        ids.append(firsts[0] if firsts else int(union.members[0].preferred[e]))
        out += union.entry_bytes(e)
    return ids[len(prompt):]


def _valid_prefix_complete(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_greedy_union_is_the_token_space_average(pair, monkeypatch):
    settings = GenerationSettings(max_tokens=20)
    weights = [0.6, 0.4]
    rec = Recorder(monkeypatch)
    results = run("union", [Member("a", pair[0]), Member("b", pair[1])], settings, weights={"a": 0.6, "b": 0.4})
    tok = pair[0].tokenizer
    union = UnionAggregator()._union([Member("a", pair[0]), Member("b", pair[1])])
    models = [g.loaded.model for g in pair]
    prompts = pair[0].open(EXAMPLES, settings)
    for i, res in enumerate(results):
        ref = _reference(models, weights, tok, prompts.token_ids(i), union, pair[0].loaded.eos_ids, 20)
        assert rec.fed[0][i] == ref
        assert res.output == tok.decode(ref, skip_special_tokens=False)
