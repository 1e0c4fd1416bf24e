"""Token-level ensembling (``union``, ``topk-union``) on tiny random-weight models with the real tokenizers."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ensemble_cli.aggregators import token_stepping
from ensemble_cli.aggregators.distributions import MemberDist
from ensemble_cli.aggregators.topk_union import TopkUnionAggregator
from ensemble_cli.aggregators.union import UnionAggregator
from ensemble_cli.core.components import EnsembleContext, Member
from ensemble_cli.core.types import Example, GenerationSettings
from ensemble_cli.errors import RecipeError
from session_recorder import Recorder
from tiny_models import make_generator, tiny_gemma3, tiny_llama

EXAMPLES = [
    Example("a", [{"role": "user", "content": "What is 2+3? Explain step by step."}]),
    Example("b", [{"role": "user", "content": "Name a colour."}]),
    Example("c", [{"role": "user", "content": "Write one long sentence about the sea and its waves."}]),
]
METHODS = {"union": UnionAggregator, "topk-union": TopkUnionAggregator}


@pytest.fixture(scope="module")
def llama():
    model, tok = tiny_llama(1)
    return make_generator(model, tok, "llama")


@pytest.fixture(scope="module")
def gemma():
    model, tok = tiny_gemma3(2)
    return make_generator(model, tok, "gemma3")


def run(method: str, members: list[Member], settings: GenerationSettings, examples=EXAMPLES, **params):
    agg = METHODS[method](METHODS[method].Config(**params))
    return agg.run(examples, EnsembleContext(members, None, settings))


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("which", ["llama", "gemma"])
def test_self_ensemble_is_the_model_token_for_token(method, which, request, monkeypatch):
    gen = request.getfixturevalue(which)
    settings = GenerationSettings(max_tokens=32)
    ref = gen.open(EXAMPLES, settings).generate(32)
    rec = Recorder(monkeypatch)
    results = run(method, [Member("x", gen), Member("y", gen)], settings, weights={"x": 0.5, "y": 0.5})
    assert rec.appends == 0  # both copies stay on their own cached path
    for i, (res, seg) in enumerate(zip(results, ref, strict=True)):
        assert res.output == seg.text
        assert res.finish_reason == seg.finish_reason
        for k in (0, 1):
            assert rec.fed[k][i] == seg.token_ids[: len(rec.fed[k][i])]
            assert len(rec.fed[k][i]) == len(seg.token_ids) - (seg.stopped_by == "eos")
        assert res.summary["won_share"] == {"x": 1.0, "y": 1.0}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_cached_ids_are_each_models_own_tokenization_after_100_steps(method, llama, gemma, monkeypatch):
    """Two different tokenizers, 100 sampled steps: every session holds its own tokenization of the text."""
    settings = GenerationSettings(max_tokens=100, temperature=1.0, seed=7, ignore_eos=True)
    rec = Recorder(monkeypatch)
    results = run(method, [Member("l", llama), Member("g", gemma)], settings)
    assert rec.appends > 0
    for k, gen in enumerate([llama, gemma]):
        tok = gen.tokenizer
        for i, res in enumerate(results):
            assert res.rounds == 100
            ids, text, prompt = rec.final[k][i]
            assert res.output.startswith(text)
            cont = ids[prompt:]
            own = rec.sessions[k]._encode_fragment(text)
            # a member may hold the start of a character the others have not finished; the rest is its own
            assert cont[: len(own)] == own, (k, i)
            tail = tok.decode(cont[len(own):], skip_special_tokens=False)
            assert len(cont) - len(own) <= 4 and (not tail or tail.endswith("\ufffd"))
            assert "\ufffd" not in res.output
        # catch-up cost is bounded per step: the re-encoded tail (4 tokens), the step's own text, the pending token
        pieces = [a.text for res in results for a in res.attribution]
        bound = sum(4 + 1 + len(tok.encode(p, add_special_tokens=False)) for p in pieces)
        assert rec.sessions[k].stats.encoded_tokens <= bound


@pytest.mark.parametrize("method", sorted(METHODS))
def test_sampling_is_reproducible_under_a_seed(method, llama, gemma):
    members = [Member("l", llama), Member("g", gemma)]
    settings = GenerationSettings(max_tokens=16, temperature=0.8, top_p=0.9, seed=11)
    a = [r.output for r in run(method, members, settings)]
    b = [r.output for r in run(method, members, settings)]
    c = [r.output for r in run(method, members, dataclasses.replace(settings, seed=12))]
    assert a == b
    assert a != c


@pytest.mark.parametrize("method", sorted(METHODS))
def test_gate_zero_is_the_primary_alone_and_gate_one_is_ungated(method, llama, gemma):
    members = [Member("l", llama), Member("g", gemma)]
    settings = GenerationSettings(max_tokens=20)
    alone = gemma.open(EXAMPLES, settings).generate(20)
    gated = run(method, members, settings, primary="g", threshold=0.0)
    assert [r.output for r in gated] == [s.text for s in alone]
    assert all(r.summary["gated_share"] == 1.0 for r in gated)
    ungated = run(method, members, settings)
    never = run(method, members, settings, primary="g", threshold=1.0)
    assert [r.output for r in never] == [r.output for r in ungated]
    assert all(r.summary["gated_share"] == 0.0 for r in never)


def test_weights_pick_the_members_voice(llama, gemma):
    """A member with weight 0 does not vote: the ensemble is the other model's greedy output."""
    settings = GenerationSettings(max_tokens=24)
    alone = gemma.open(EXAMPLES, settings).generate(24)
    res = run("union", [Member("l", llama), Member("g", gemma)], settings, weights={"l": 0.0, "g": 1.0})
    assert [r.output for r in res] == [s.text for s in alone]
    with pytest.raises(RecipeError, match="weights"):
        run("union", [Member("l", llama), Member("g", gemma)], settings, weights={"l": 1.0})


@pytest.mark.parametrize("method", sorted(METHODS))
def test_batched_equals_one_by_one(method, llama, gemma):
    members = [Member("l", llama), Member("g", gemma)]
    settings = GenerationSettings(max_tokens=20, temperature=0.7, seed=3)
    batched = run(method, members, settings)
    single = [run(method, members, settings, examples=[ex])[0] for ex in EXAMPLES]
    assert [r.output for r in batched] == [r.output for r in single]


def test_stop_string_and_attribution(gemma, llama):
    members = [Member("l", llama), Member("g", gemma)]
    settings = GenerationSettings(max_tokens=30)
    full = run("union", members, settings)
    out = full[0].output
    assert "".join(a.text for a in full[0].attribution) == out
    assert all(a.model in {"", "l", "g", "l+g"} for a in full[0].attribution)
    stop = out[12:15]
    cut = run("union", members, dataclasses.replace(settings, stop=[stop]))[0]
    assert cut.output == out[: out.find(stop)]
    assert (cut.finish_reason, cut.stop_cause) == ("stop", "stop_string")
    assert "".join(a.text for a in cut.attribution) == cut.output


def test_emit_streams_final_text_and_cancel_stops(gemma, llama):
    @dataclasses.dataclass
    class Ctx(EnsembleContext):
        pieces: dict = dataclasses.field(default_factory=dict)

        def emit(self, index: int, text: str, model: str | None = None) -> None:
            assert model is not None and set(model.split("+")) <= {"l", "g"}  # each piece names its writer(s)
            self.pieces.setdefault(index, []).append(text)

        def is_cancelled(self, index: int) -> bool:
            return index == 1 and len(self.pieces.get(1, [])) >= 3

    ctx = Ctx([Member("l", llama), Member("g", gemma)], None, GenerationSettings(max_tokens=20))
    res = UnionAggregator().run(EXAMPLES, ctx)
    for i, r in enumerate(res):
        assert "".join(ctx.pieces.get(i, [])) == r.output
    assert res[1].stop_cause == "cancelled" and res[1].finish_reason == "stop" and res[1].rounds < 20


@pytest.fixture(scope="module")
def peaky():
    """The tiny models with their final norm scaled up: peaked distributions, as trained models give,
    so greedy ``union`` steps settle on candidates (flat random models almost never do)."""
    lm, ltok = tiny_llama(1)
    lm.model.norm.weight.data.mul_(40.0)
    gm, gtok = tiny_gemma3(2)
    gm.model.norm.weight.data.add_(39.0)  # Gemma's norm scales by (1 + weight)
    return make_generator(lm, ltok, "llama"), make_generator(gm, gtok, "gemma3")


def _count_settled(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = token_stepping._choose_settled

    def counting(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(token_stepping, "_choose_settled", counting)
    return calls


@pytest.mark.parametrize("weights", ["uniform", {"l": 0.7, "g": 0.3}])
def test_union_greedy_shortcut_chooses_as_the_full_merge(peaky, weights, monkeypatch):
    members = [Member("l", peaky[0]), Member("g", peaky[1])]
    settings = GenerationSettings(max_tokens=40)
    settled = _count_settled(monkeypatch)
    fast = run("union", members, settings, weights=weights)
    steps = sum(r.rounds for r in fast)
    assert 0 < len(settled) <= steps  # the shortcut really ran
    monkeypatch.setattr(UnionAggregator, "candidates", lambda self, step: None)  # every step: full merge
    full = run("union", members, settings, weights=weights)
    assert [r.output for r in fast] == [r.output for r in full]
    for a, b in zip(fast, full, strict=True):
        assert [(x.model, x.text) for x in a.attribution] == [(x.model, x.text) for x in b.attribution]
        assert [x.score for x in a.attribution] == pytest.approx([x.score for x in b.attribution], rel=1e-4)


def test_union_rows_the_bound_cannot_settle_take_the_full_merge(peaky, monkeypatch):
    """One batch mixing settled rows and rows whose bound fails gives what each gets alone."""
    members = [Member("l", peaky[0]), Member("g", peaky[1])]
    settings = GenerationSettings(max_tokens=30)
    reference = run("union", members, settings)
    original = UnionAggregator.candidates

    def half_unsettled(self, step):
        found = original(self, step)
        found.bound[1::2] = float("inf")  # odd rows can never settle
        return found

    monkeypatch.setattr(UnionAggregator, "candidates", half_unsettled)
    settled = _count_settled(monkeypatch)
    mixed = run("union", members, settings)
    assert settled
    assert [r.output for r in mixed] == [r.output for r in reference]


def test_union_self_ensemble_through_the_shortcut(peaky, monkeypatch):
    gen = peaky[1]
    settings = GenerationSettings(max_tokens=32)
    ref = gen.open(EXAMPLES, settings).generate(32)
    settled = _count_settled(monkeypatch)
    results = run("union", [Member("x", gen), Member("y", gen)], settings, weights={"x": 0.5, "y": 0.5})
    assert settled
    assert [r.output for r in results] == [s.text for s in ref]


def test_member_dist_agrees_with_softmax():
    torch.manual_seed(0)
    logits = torch.randn(3, 1000) * 4
    d = MemberDist(logits)
    probs = torch.softmax(logits, dim=-1)
    ids = torch.randint(0, 1000, (3, 7))
    assert torch.allclose(d.gather(1, ids), probs.gather(1, ids), rtol=1e-5, atol=1e-9)
    p, top = d.topk(5)
    assert torch.equal(top, logits.topk(5, dim=-1).indices)
    assert torch.allclose(p, probs.topk(5, dim=-1).values, rtol=1e-5)
    assert torch.allclose(d.peak(logits.argmax(dim=-1)), probs.max(dim=-1).values, rtol=1e-5)
    sub = d.rows(torch.tensor([2, 0]))
    assert torch.allclose(sub.gather(1, ids[[2, 0]]), probs[[2, 0]].gather(1, ids[[2, 0]]), rtol=1e-5)
    assert torch.equal(d.probs, probs)
