"""Token-level ensembling (``union``, ``topk-union``) on tiny random-weight models with the real tokenizers."""

from __future__ import annotations

import dataclasses

import pytest

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

        def emit(self, index: int, text: str) -> None:
            self.pieces.setdefault(index, []).append(text)

        def is_cancelled(self, index: int) -> bool:
            return index == 1 and len(self.pieces.get(1, [])) >= 3

    ctx = Ctx([Member("l", llama), Member("g", gemma)], None, GenerationSettings(max_tokens=20))
    res = UnionAggregator().run(EXAMPLES, ctx)
    for i, r in enumerate(res):
        assert "".join(ctx.pieces.get(i, [])) == r.output
    assert res[1].stop_cause == "cancelled" and res[1].finish_reason == "stop" and res[1].rounds < 20
