"""``mode: mixture`` of sampled ``union`` (``aggregators/mixture.py``): draw a member by weight, let it write alone."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from ensemble_cli.aggregators.distributions import MemberDist
from ensemble_cli.aggregators.mixture import MixtureStepper
from ensemble_cli.aggregators.token_stepping import StepInput
from ensemble_cli.aggregators.union import UnionAggregator
from ensemble_cli.core.components import EnsembleContext, Member
from ensemble_cli.core.types import Example, GenerationSettings
from ensemble_cli.errors import RecipeError
from ensemble_cli.generators.hf_session import HFSessionBatch
from ensemble_cli.recipe import load_recipe
from ensemble_cli.vocab.union import SPECIAL
from scripted_models import FIVE, scripted_pair
from session_recorder import Recorder

ROOT = Path(__file__).resolve().parents[2]
PROMPT = [{"role": "user", "content": "Name a colour."}]


@pytest.fixture(scope="module")
def pair():
    """Members that agree on runs of tokens and stray often, with different tokenizers."""
    return scripted_pair(8.0)


def run(members, settings, examples, **params):
    agg = UnionAggregator(UnionAggregator.Config(**params))
    return agg.run(examples, EnsembleContext(members, None, settings))


def _text_probs(members, weights, settings):
    """The exact distribution of the first written text under plain sampled union (temperature 1)."""
    agg = UnionAggregator()
    union = agg._union(members)
    one = [Example("x", PROMPT)]
    dists = [MemberDist(m.generator.open(one, settings, salt=m.name).next_logits().float()) for m in members]
    q = agg.merge(StepInput(union, dists, torch.tensor(weights)[:, None]))[0]
    q[~union.clean | (union.kinds == SPECIAL)] = 0.0  # never written
    q = q / q.sum()
    probs: dict[str, float] = {}
    for e in q.nonzero().flatten().tolist():
        try:
            text = union.entry_bytes(e).decode("utf-8")
        except UnicodeDecodeError:  # half a character: nothing written yet
            text = ""
        probs[text] = probs.get(text, 0.0) + float(q[e])
    return probs


@pytest.mark.parametrize("weights", [(0.7, 0.3), (1.0, 0.0)])
def test_one_step_follows_the_weighted_mixture(pair, weights, monkeypatch):
    """Many seeded rows, one step: the written text follows plain union's merged distribution (chi-square)."""
    from scipy.stats import chisquare

    members = [Member("l", pair[0]), Member("g", pair[1])]
    settings = GenerationSettings(max_tokens=1, temperature=1.0, seed=2025)
    n = 600
    rec = Recorder(monkeypatch)
    results = run(members, settings, [Example(f"r{i}", PROMPT) for i in range(n)], mode="mixture",
                  weights=dict(zip(("l", "g"), weights, strict=True)))
    counts: dict[str, int] = {}
    for r in results:
        counts[r.output] = counts.get(r.output, 0) + 1
    probs = _text_probs(members, list(weights), settings)
    big = [t for t, p in probs.items() if p * n >= 5]
    assert len(big) >= 3  # not one near-certain entry
    observed = [counts.get(t, 0) for t in big] + [n - sum(counts.get(t, 0) for t in big)]
    expected = [probs[t] * n for t in big] + [n - sum(probs[t] * n for t in big)]
    assert chisquare(observed, expected).pvalue > 1e-3
    wins = {name: sum(r.summary["won_share"][name] for r in results) for name in ("l", "g")}
    assert wins["l"] + wins["g"] == n  # each row's token was written by exactly one member
    if weights[1] == 0:
        assert wins["g"] == 0 and rec.sessions[1].stats.forward_calls == 0  # never drawn, never run
    else:
        assert wins["g"] == pytest.approx(n * weights[1], abs=4 * (n * 0.21) ** 0.5)


def test_one_member_of_weight_one_is_that_member_alone(pair):
    """Its own sampled output, token for token: the same draws from its own seeded stream per row, up to
    where alone it would write text the union never writes (a broken UTF-8 character)."""
    llama = pair[0]
    settings = GenerationSettings(max_tokens=24, temperature=0.9, top_p=0.95, seed=5)
    alone = llama.open(FIVE, settings, salt="l").generate(24, temperature=0.9, top_p=0.95)
    mixed = run([Member("l", llama), Member("g", pair[1])], settings, FIVE, mode="mixture",
                weights={"l": 1.0, "g": 0.0})
    exact = 0
    for r, seg in zip(mixed, alone, strict=True):
        if "\ufffd" not in seg.text:
            assert r.output == seg.text
            assert r.summary["mixture"] == {"rejected": 0, "merged_steps": 0, "waited_steps": 0}
            assert r.summary["won_share"] == {"l": 1.0, "g": 0.0}
            exact += 1
        else:  # the draws after a half-written character are redrawn: the same text up to it
            assert r.output.startswith(seg.text[: seg.text.index("\ufffd")])
            assert r.summary["mixture"]["merged_steps"] > 0
    assert exact >= 3


def test_attribution_names_the_writer_and_usage_is_honest(pair, monkeypatch):
    members = [Member("l", pair[0]), Member("g", pair[1])]
    settings = GenerationSettings(max_tokens=30, temperature=1.0, seed=3)
    rec = Recorder(monkeypatch)
    forwards: list[int | None] = []  # per forward: None for the whole batch, else the rows it ran
    steps: list[tuple[int, int]] = []  # per step: (forwards before it, forwards after it)
    orig_logits, orig_step = HFSessionBatch.next_logits, MixtureStepper.step

    def next_logits(s, rows=None):
        forwards.append(None if rows is None else len(rows))
        return orig_logits(s, rows)

    def step(s, rows, fed):
        before = len(forwards)
        orig_step(s, rows, fed)
        steps.append((before, len(forwards)))

    monkeypatch.setattr(HFSessionBatch, "next_logits", next_logits)
    monkeypatch.setattr(MixtureStepper, "step", step)
    results = run(members, settings, FIVE, mode="mixture")
    writers = set()
    drawn = 0
    for i, r in enumerate(results):
        assert "".join(a.text for a in r.attribution) == r.output
        mix = r.summary["mixture"]
        assert r.usage.completion_tokens == r.rounds
        assert r.usage.generated_tokens == r.rounds + mix["rejected"]
        if mix["merged_steps"]:  # a plain step (after half a character) is attributed as plain union does
            continue
        drawn += 1
        for a in r.attribution:
            assert a.model in ("l", "g")  # one writer per token, never a "+" of agreeing members
            writers.add(a.model)
        for k, name in enumerate(("l", "g")):
            # every token a member wrote was fed to it as it drew it (the final end-of-sequence is not fed)
            wrote = sum(a.model == name for a in r.attribution) - (r.stop_cause == "eos" and r.attribution[-1].model
                                                                    == name)
            assert len(rec.fed[k][i]) == wrote
    assert drawn >= 2 and writers == {"l", "g"}
    merged = sum(r.summary["mixture"]["merged_steps"] for r in results)
    # one member's forward per step, over the whole batch; sub-batch forwards only for merge steps
    whole = [sum(f is None for f in forwards[a:b]) for a, b in steps]
    assert max(whole) == 1 and sum(whole) <= len(steps)
    assert sum(f is not None for f in forwards) <= 2 * merged
    # the rows that drew another member waited for its turn instead of running it too
    assert sum(r.summary["mixture"]["waited_steps"] for r in results) > 0
    assert max(r.rounds for r in results) <= len(steps)


def test_mixture_is_reproducible_and_batch_independent(pair):
    members = [Member("l", pair[0]), Member("g", pair[1])]
    settings = GenerationSettings(max_tokens=20, temperature=0.8, top_p=0.9, seed=11)
    a = run(members, settings, FIVE, mode="mixture")
    b = run(members, settings, FIVE, mode="mixture")
    one = [run(members, settings, [ex], mode="mixture")[0] for ex in FIVE[:3]]
    c = run(members, dataclasses.replace(settings, seed=12), FIVE, mode="mixture")
    assert [r.output for r in a] == [r.output for r in b] != [r.output for r in c]
    assert [r.output for r in one] == [r.output for r in a[:3]]


def test_shared_draws_follow_the_mixture_over_seeds(pair):
    """``draws: shared``: each row is still an exact sample; the randomness of the member draw is the
    seed's (one row per seed here: rows of one seed share their draw, by design)."""
    from scipy.stats import chisquare

    members = [Member("l", pair[0]), Member("g", pair[1])]
    weights = (0.7, 0.3)
    n = 300
    counts: dict[str, int] = {}
    wrote_g = 0
    for seed in range(n):
        settings = GenerationSettings(max_tokens=1, temperature=1.0, seed=10_000 + seed)
        (r,) = run(members, settings, [Example("x", PROMPT)], mode="mixture", draws="shared",
                   weights={"l": weights[0], "g": weights[1]})
        counts[r.output] = counts.get(r.output, 0) + 1
        wrote_g += r.summary["won_share"]["g"] == 1.0
    probs = _text_probs(members, list(weights), GenerationSettings(max_tokens=1, temperature=1.0, seed=0))
    big = [t for t, p in probs.items() if p * n >= 5]
    assert len(big) >= 3
    observed = [counts.get(t, 0) for t in big] + [n - sum(counts.get(t, 0) for t in big)]
    expected = [probs[t] * n for t in big] + [n - sum(probs[t] * n for t in big)]
    assert chisquare(observed, expected).pvalue > 1e-3
    assert wrote_g == pytest.approx(n * weights[1], abs=4 * (n * 0.21) ** 0.5)


def test_shared_draws_write_every_row_each_step_and_stay_batch_independent(pair, monkeypatch):
    members = [Member("l", pair[0]), Member("g", pair[1])]
    settings = GenerationSettings(max_tokens=16, temperature=1.0, seed=21)
    row = run(members, settings, FIVE, mode="mixture")
    shared = run(members, settings, FIVE, mode="mixture", draws="shared")
    alone = [run(members, settings, [ex], mode="mixture", draws="shared")[0] for ex in FIVE[:2]]
    assert [r.output for r in alone] == [r.output for r in shared[:2]]
    waited = lambda results: sum(r.summary["mixture"]["waited_steps"] for r in results)  # noqa: E731
    rejected = sum(r.summary["mixture"]["rejected"] for r in shared)
    # rows wait only after a rejected draw took them out of step; independent rows wait far more
    assert waited(shared) <= 16 * rejected and waited(shared) < waited(row)
    # the same member wrote position k in every row that drew it first time (no rejection before it)
    clean = [r for r in shared if r.summary["mixture"]["rejected"] == 0 and r.summary["mixture"]["merged_steps"] == 0]
    assert len(clean) >= 2
    for k in range(min(len(r.attribution) for r in clean)):
        assert len({r.attribution[k].model for r in clean}) == 1


def test_rows_furthest_behind_choose_the_member_with_shared_draws():
    """A row one token behind needs position k's member while the others need k + 1's: with shared
    draws it is served first, so the others wait one step and all rows share the draw again."""
    from types import SimpleNamespace

    stepper = object.__new__(MixtureStepper)
    rows = [SimpleNamespace(steps=4), SimpleNamespace(steps=3), SimpleNamespace(steps=4), SimpleNamespace(steps=3)]
    stepper.shared_draws = True
    assert stepper._first_in_line(rows, [0, 1, 2, 3]) == [1, 3]
    assert stepper._first_in_line(rows, [0, 2]) == [0, 2]
    stepper.shared_draws = False  # independent draws: the member most rows drew runs
    assert stepper._first_in_line(rows, [0, 1, 2, 3]) == [0, 1, 2, 3]


@pytest.mark.parametrize("seed", [22, 23, 24, 25])
def test_shared_draws_get_back_in_step_after_a_row_falls_behind(pair, seed):
    members = [Member("l", pair[0]), Member("g", pair[1])]
    settings = GenerationSettings(max_tokens=48, temperature=1.0, seed=seed)
    shared = run(members, settings, FIVE, mode="mixture", draws="shared")
    events = sum(r.summary["mixture"]["rejected"] + r.summary["mixture"]["merged_steps"] for r in shared)
    assert events > 0  # some row did fall behind
    # each fall costs the batch about a step, not a wait at every other step to the end of the text
    # (serving the majority instead left a row waiting 14-24 of 48 steps after 4-6 falls at these seeds)
    assert max(r.summary["mixture"]["waited_steps"] for r in shared) <= events


def test_greedy_and_other_modes_are_refused_naming_the_field(pair):
    members = [Member("l", pair[0]), Member("g", pair[1])]
    with pytest.raises(RecipeError, match=r"generation\.temperature: .*mode 'mixture'"):
        run(members, GenerationSettings(max_tokens=4), FIVE[:1], mode="mixture")
    for extra in ({"primary": "l", "threshold": 0.5}, {"speculate": {"proposer": "l"}}):
        with pytest.raises(ValueError, match="mode 'mixture' cannot be combined"):
            UnionAggregator.Config(mode="mixture", **extra)
    with pytest.raises(ValueError, match="mode"):
        UnionAggregator.Config(mode="mix")
    with pytest.raises(ValueError, match="draws 'shared' is for mode 'mixture'"):
        UnionAggregator.Config(draws="shared")


def test_mixture_recipe_is_sampled_union_in_mixture_mode(pair, monkeypatch):
    monkeypatch.chdir(ROOT)
    recipe = load_recipe("recipes/token-union-mixture.yaml").as_dict()
    params = recipe["aggregator"]["params"]
    assert recipe["aggregator"]["type"] == "union" and params["mode"] == "mixture"
    assert recipe["generation"]["temperature"] > 0
    settings = GenerationSettings(**{**recipe["generation"], "max_tokens": 12})
    out = run([Member("smol", pair[0]), Member("gemma", pair[1])], settings, FIVE[:2], **params)
    assert all(r.rounds > 0 for r in out)
