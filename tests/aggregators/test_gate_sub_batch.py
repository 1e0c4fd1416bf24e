"""Gate mode with sub-batches (``gate_sub_batch``): another member runs only for the rows that need it, and the
output is the whole-batch gate's, token for token."""

from __future__ import annotations

import pytest

from ensemble_cli.aggregators.topk_union import TopkUnionAggregator
from ensemble_cli.aggregators.union import UnionAggregator
from ensemble_cli.core.components import EnsembleContext, Member
from ensemble_cli.core.types import GenerationSettings
from ensemble_cli.generators.hf_session import HFSessionBatch
from scripted_models import FIVE, scripted_pair

METHODS = {"union": UnionAggregator, "topk-union": TopkUnionAggregator}


@pytest.fixture(scope="module")
def strays():
    """Members that agree on runs of tokens and stray often: the primary is sure on some steps, not others."""
    return scripted_pair(16.0)


def run(method, members, settings, examples, **params):
    agg = METHODS[method](METHODS[method].Config(**params))
    return agg.run(examples, EnsembleContext(members, None, settings))


class Calls:
    """Per session: each forward's rows and each append's rows with text, in order."""

    def __init__(self, monkeypatch):
        self.log: dict[int, list[tuple[str, list[int]]]] = {}
        self.whole: list[bool] = []  # per forward (any session): it ran the whole batch
        calls, orig_logits, orig_append = self, HFSessionBatch.next_logits, HFSessionBatch.append

        def next_logits(s, rows=None):
            ran = list(range(len(s.rows))) if rows is None else list(rows)
            calls.log.setdefault(id(s), []).append(("forward", ran))
            calls.whole.append(rows is None)
            return orig_logits(s, rows)

        def append(s, texts):
            calls.log.setdefault(id(s), []).append(("append", [r for r, t in enumerate(texts) if t]))
            orig_append(s, texts)

        monkeypatch.setattr(HFSessionBatch, "next_logits", next_logits)
        monkeypatch.setattr(HFSessionBatch, "append", append)


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("batch", [1, 5])
def test_sub_batch_gate_equals_whole_batch_gate(method, batch, strays):
    members = [Member("l", strays[0]), Member("g", strays[1])]
    settings = GenerationSettings(max_tokens=40, stop=["\nUser:"])
    gate = {"primary": "l", "threshold": 0.9}
    whole = run(method, members, settings, FIVE[:batch], gate_sub_batch=False, **gate)
    sub = run(method, members, settings, FIVE[:batch], gate_sub_batch=True, **gate)
    for a, b in zip(whole, sub, strict=True):
        assert b.output == a.output
        assert (b.finish_reason, b.stop_cause, b.rounds) == (a.finish_reason, a.stop_cause, a.rounds)
        assert [(x.model, x.text) for x in b.attribution] == [(x.model, x.text) for x in a.attribution]
        assert [x.score for x in b.attribution] == pytest.approx([x.score for x in a.attribution], rel=1e-4)
        assert b.summary == a.summary
    shares = [r.summary["gated_share"] for r in sub]
    assert any(0 < s < 1 for s in shares), shares  # the gate really split the steps


def test_rows_that_do_not_need_a_member_leave_its_session_untouched(strays, monkeypatch):
    """The gated member's forwards cover exactly the rows the gate sent to it; only those rows catch up."""
    members = [Member("l", strays[0]), Member("g", strays[1])]
    settings = GenerationSettings(max_tokens=40)
    gate = {"primary": "l", "threshold": 0.9}
    counts = {}
    for sub in (False, True):
        calls = Calls(monkeypatch)
        results = run("union", members, settings, FIVE, gate_sub_batch=sub, **gate)
        primary, other = list(calls.log.values())
        forwards = [rows for kind, rows in other if kind == "forward"]
        assert len(calls.whole) == len(forwards) + sum(kind == "forward" for kind, _ in primary)
        counts[sub] = sum(len(rows) for rows in forwards)
        if sub:
            assert not all(calls.whole)
            for (kind, rows), (nxt, fwd) in zip(other, other[1:], strict=False):
                if kind == "append":  # a catch-up goes with the forward right after it, on the same rows
                    assert nxt == "forward" and set(rows) <= set(fwd)
            # one row-forward per ensembled step of each row (its first forward is its prefill)
            ensembled = sum(r.rounds - round(r.summary["gated_share"] * r.rounds) for r in results)
            assert counts[sub] == ensembled
    assert counts[True] < counts[False]  # the whole-batch gate ran rows that did not need it
