"""``bench versus``: one bench folder's ensemble against another's on the problems both ran: the
paired counts, McNemar and interval, cost over the compared rows only, labels, and the errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bench_dirs import make_bench, member_records, timed, verdicts  # tests/evaluation is on sys.path

from ensemble_cli.errors import UsageError
from ensemble_cli.evaluation.folders import read_bench
from ensemble_cli.evaluation.stats import mcnemar_exact, paired_difference_interval
from ensemble_cli.evaluation.versus import versus, versus_table

MEMBER = "11000001"


def bench(root: Path, recipe: str, ensemble: list[dict[str, Any]]) -> Path:
    members = {"m": member_records(recipe, "m", MEMBER[: len(ensemble)])}
    return make_bench(root / recipe, recipe, members, ensemble, {"m": 1.0, recipe: 2.0})


def test_paired_counts_test_and_interval(tmp_path: Path) -> None:
    # a right on p0-p5, b on p0-p3, p6, p7: only a on p4, p5; only b on p6, p7
    a = bench(tmp_path, "mixed", timed(verdicts("11111100", tokens=30), 10.0, batch=4))
    b = bench(tmp_path, "self", timed(verdicts("11110011", tokens=10), 5.0, batch=4))
    v = versus(read_bench(a), read_bench(b))
    assert (v.a, v.b, v.problems) == ("mixed", "self", 8)
    assert (v.a_accuracy.correct, v.b_accuracy.correct) == (6, 6)
    assert (v.a_only, v.b_only) == (2, 2)
    assert v.p_value == mcnemar_exact(2, 2) == 1.0
    assert v.difference == 0.0
    assert v.difference_ci == paired_difference_interval(4, 2, 2, 0)
    assert v.tokens_ratio == pytest.approx(3.0)
    assert v.time_ratio == pytest.approx(2.0)  # two batches each: 20 s against 10 s
    assert (v.a_unmatched, v.b_unmatched) == (0, 0)

    better = bench(tmp_path, "better", verdicts("11111111"))
    w = versus(read_bench(better), read_bench(b))
    assert (w.a_only, w.b_only) == (2, 0) and w.difference == pytest.approx(0.25)
    low, high = w.difference_ci
    assert low < 0.25 < high


def test_cost_counts_only_the_problems_both_ran(tmp_path: Path) -> None:
    # a ran 8 problems in 2 batches of 4; b only the first 4 (one batch): a is priced on its first batch
    a = bench(tmp_path, "long", timed(verdicts("11110000", tokens=10), 7.0, batch=4))
    b = bench(tmp_path, "short", timed(verdicts("1100", tokens=10), 7.0, batch=4))
    v = versus(read_bench(a), read_bench(b))
    assert v.problems == 4 and (v.a_unmatched, v.b_unmatched) == (4, 0)
    assert v.tokens_ratio == pytest.approx(1.0) and v.time_ratio == pytest.approx(1.0)
    assert (v.a_only, v.b_only) == (2, 0)
    notes = " ".join(versus_table(v).notes)
    assert "not compared: 4 problems only A has, 0 only B has" in notes


def test_same_recipe_twice_is_labelled_by_folder(tmp_path: Path) -> None:
    a = bench(tmp_path / "run1", "vote", verdicts("1111"))
    b = bench(tmp_path / "run2", "vote", verdicts("1100"))
    v = versus(read_bench(a), read_bench(b))
    assert (v.a, v.b) == (str(a), str(b))
    table = versus_table(v)
    assert table.title == f"A = {a} against B = {b}"
    n, _, _, difference, test, tokens, time = table.rows[0]
    assert (n, test, tokens, time) == ("4", "0.5 (2/0)", "1.00×", "1.00×")
    assert difference.startswith("+50.0 [")
    doc = v.to_dict()
    assert doc["mcnemar"] == {"a_only": 2, "b_only": 0, "p_value": 0.5}
    assert json.loads(json.dumps(doc))["a"]["folder"] == str(a)


def test_other_problems_under_the_same_id_are_refused(tmp_path: Path) -> None:
    a = bench(tmp_path, "a", verdicts("1111"))
    b = bench(tmp_path, "b", verdicts("1111", prompt="another problem"))
    with pytest.raises(UsageError, match=r"ran other problems under the same id: problem 'p0' has another prompt"):
        versus(read_bench(a), read_bench(b))


def test_no_problem_in_common_and_a_folder_against_itself(tmp_path: Path) -> None:
    a = bench(tmp_path, "a", verdicts("1111"))
    other = verdicts("1111")
    for rec in other:
        rec["id"] = f"q{rec['id']}"
    b = bench(tmp_path, "b", other)
    with pytest.raises(UsageError, match="have no problem in common"):
        versus(read_bench(a), read_bench(b))
    with pytest.raises(UsageError, match="against itself"):
        versus(read_bench(a), read_bench(a))
