"""The bench verdict from hand-made records: oracle, lift, exact McNemar, cost ratios, shares."""

from __future__ import annotations

import pytest
from eval_records import answers, record  # tests/evaluation is on sys.path (pytest prepend mode)

from ensemble_cli.evaluation.compare import NO_MEMBER, attributed_shares, compare
from ensemble_cli.evaluation.views import bench_tables


def test_oracle_lift_and_mcnemar() -> None:
    a = answers("1100110000")  # 4/10
    b = answers("1010000011")  # 4/10, tie: a (listed first) is the best member
    ens = answers("1111110000")  # 6/10: right where a is wrong on p2, p3; never worse than a
    result = compare({"a": a, "b": b}, ens, {"a": 2.0, "b": 4.0, "ens": 5.0}, ensemble_name="ens")
    assert [s.accuracy.correct for s in result.members] == [4, 4]
    assert result.best == "a"
    assert result.ensemble.accuracy.correct == 6
    assert result.oracle.correct == 7  # p0 p1 p2 p4 p5 p8 p9
    assert result.lift == pytest.approx(0.2)
    assert (result.ensemble_only, result.best_only) == (2, 0)
    assert result.p_value == pytest.approx(0.5)  # 2 * (1/2)^2
    assert result.costs["ens"].time_ratio == pytest.approx(2.5)
    assert result.costs["b"].time_ratio == pytest.approx(2.0)
    assert result.compared == 10


def test_best_member_is_the_most_accurate() -> None:
    result = compare({"a": answers("100"), "b": answers("111")}, answers("110"), {}, ensemble_name="e")
    assert result.best == "b" and result.lift == pytest.approx(-1 / 3)
    assert (result.ensemble_only, result.best_only) == (0, 1)
    assert result.costs["e"].time_ratio is None  # no timing known: no ratio rather than a division by 0


def test_errors_count_as_wrong_and_unlabelled_rows_are_dropped_everywhere() -> None:
    a = [record("p0", "1"), {"id": "p1", "error": "boom", "label": "#### 1"}, record("p2", "1", label=None)]
    b = [record("p0", "1"), record("p1", "1"), record("p2", "1", label=None)]
    ens = [record("p0", "1"), record("p1", None), record("p2", "1", label=None)]
    result = compare({"a": a, "b": b}, ens, {}, ensemble_name="e")
    assert result.compared == 2
    assert [s.accuracy.correct for s in result.members] == [1, 2]
    assert result.members[0].errors == 1 and result.ensemble.missing == 1
    assert result.members[0].ungraded == 1
    assert result.oracle.correct == 2 and result.best == "b"


def test_token_cost_relative_to_best() -> None:
    a = [record("p0", "1", generated=100), record("p1", "1", generated=100)]
    b = [record("p0", "2", generated=50), record("p1", "2", generated=50)]
    ens = [record("p0", "1", generated=450), record("p1", "1", generated=150)]
    result = compare({"a": a, "b": b}, ens, {"a": 1.0, "b": 1.0, "e": 3.0}, ensemble_name="e")
    assert result.costs["e"].generated_tokens == 600
    assert result.costs["e"].tokens_ratio == pytest.approx(3.0)
    assert result.costs["b"].tokens_ratio == pytest.approx(0.5)


def test_attributed_shares_in_characters() -> None:
    recs = [
        record("p0", "1", attribution=[("a", "abc"), ("b", "d")]),
        record("p1", "1", attribution=[("a", "ef")]),
    ]
    assert attributed_shares(recs, ["a", "b", "c"]) == {"a": pytest.approx(5 / 6), "b": pytest.approx(1 / 6), "c": 0.0}
    assert attributed_shares([], ["a"]) == {"a": 0.0}


def test_token_level_shared_credit_keeps_its_own_keys() -> None:
    """``a+b`` (both ranked the token first) and an empty name (nobody did) are neither a's nor b's."""
    recs = [record("p0", "1", attribution=[("a+b", "abcdef"), ("a", "g"), ("", "h"), ("b", "ij")])]
    shares = attributed_shares(recs, ["a", "b"])
    assert list(shares) == ["a", "b", "a+b", NO_MEMBER]
    assert shares == {"a": pytest.approx(0.1), "b": pytest.approx(0.2), "a+b": pytest.approx(0.6),
                      NO_MEMBER: pytest.approx(0.1)}
    result = compare({"a": answers("1"), "b": answers("0")}, recs, {}, ensemble_name="e")
    main = bench_tables(result, "tok")[0]
    assert main.rows[0][-1] == "10.0%" and main.rows[1][-1] == "20.0%"
    assert any(n.startswith("shared credit") and "a+b 60.0%" in n and f"{NO_MEMBER} 10.0%" in n for n in main.notes)
    solo = compare({"a": answers("1"), "b": answers("0")}, [record("p0", "1", attribution=[("a", "x")])], {}, "e")
    assert not any(n.startswith("shared credit") for n in bench_tables(solo, "seg")[0].notes)


def test_to_dict_is_json_ready() -> None:
    import json

    result = compare({"a": answers("10"), "b": answers("01")}, answers("11"), {"a": 1, "b": 1, "e": 2}, "e")
    doc = json.loads(json.dumps(result.to_dict()))
    assert doc["best_member"] == "a" and doc["oracle"]["correct"] == 2
    assert doc["ensemble"]["cost"]["time_vs_best"] == 2.0 and doc["mcnemar"]["p_value"] == 1.0


def test_cascade_share_escalated_among_compared_problems() -> None:
    ens = answers("1101")
    for rec, up in zip(ens, [True, False, False, True], strict=True):
        rec["summary"] = {"escalated": up, "check": "agreement", "agreement": 0.5 if up else 1.0}
    ens.append(record("p9", "1", label=None) | {"summary": {"escalated": True}})  # ungraded: not counted
    result = compare({"a": answers("1100"), "b": answers("0101")}, ens, {}, ensemble_name="e")
    assert result.escalated == pytest.approx(0.5)
    assert result.to_dict()["escalated_share"] == 0.5
    verdict = bench_tables(result, "cascade")[1]
    assert ["escalated past the cheap member (cascade)", "50.0%"] in verdict.rows
    plain = compare({"a": answers("10")}, answers("11"), {}, ensemble_name="e")
    assert plain.escalated is None and "escalated_share" not in plain.to_dict()
    assert not any("escalated" in row[0] for row in bench_tables(plain, "x")[1].rows)
