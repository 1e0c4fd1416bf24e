"""``--time-over``: generation time summed again over whole batches of a span of problems, for a
bench partly run beside other work; and the errors for a span that cuts a batch or a bad span."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_dirs import make_bench, member_records, timed, verdicts  # tests/evaluation is on sys.path

from ensemble_cli.errors import UsageError
from ensemble_cli.evaluation.folders import read_bench
from ensemble_cli.evaluation.frontier import frontier, frontier_table
from ensemble_cli.evaluation.results import result_row, results_table
from ensemble_cli.evaluation.time_span import ProblemSpan, time_over, times_over


def bench(tmp_path: Path) -> Path:
    """8 problems in 4 batches of 2; the first batch of every system ran beside a test run (slow)."""
    members = {
        "a": timed(member_records("vote", "a", "11000001"), [30.0, 1.0, 1.0, 1.0], day="02"),
        "b": timed(member_records("vote", "b", "11110000"), [60.0, 2.0, 2.0, 2.0], day="03"),
    }
    ensemble = timed(verdicts("11111001"), [100.0, 6.0, 6.0, 6.0])
    totals = {"a": 33.0, "b": 66.0, "vote": 118.0}
    return make_bench(tmp_path / "vote", "vote", members, ensemble, totals)


def test_time_is_summed_over_the_whole_batches_of_the_span_only(tmp_path: Path) -> None:
    folder = read_bench(bench(tmp_path))
    assert folder.comparison.costs["vote"].time_ratio == pytest.approx(118 / 66)
    quiet = time_over(folder, ProblemSpan.parse("2:8"))
    assert quiet.seconds == {"a": 3.0, "b": 6.0, "vote": 18.0}
    assert quiet.comparison.costs["vote"].time_ratio == pytest.approx(3.0)
    assert quiet.comparison.costs["a"].time_ratio == pytest.approx(0.5)
    assert quiet.time_span == "problems 2–7"
    # accuracy, McNemar and tokens are over every problem still
    assert quiet.comparison.ensemble.accuracy.correct == 6 and quiet.comparison.compared == 8
    assert quiet.comparison.costs["vote"].tokens_ratio == folder.comparison.costs["vote"].tokens_ratio
    assert folder.seconds == {"a": 33.0, "b": 66.0, "vote": 118.0}  # the folder read is left as it was
    assert time_over(folder, ProblemSpan.parse("2:")).seconds == quiet.seconds
    assert time_over(folder, ProblemSpan.parse(":2")).seconds == {"a": 30.0, "b": 60.0, "vote": 100.0}


def test_the_tables_and_the_plot_say_which_problems_the_time_covers(tmp_path: Path) -> None:
    quiet = times_over([read_bench(bench(tmp_path))], ProblemSpan.parse("2:8"))
    row = result_row(quiet[0])
    assert row.time_ratio == pytest.approx(3.0) and row.to_dict()["time_over"] == "problems 2–7"
    assert "time× (problems 2–7)" in results_table([row]).columns
    points = frontier(quiet)
    assert {p.label: round(p.cost, 3) for p in points.points} == {"a": 0.5, "b": 1.0, "vote": 3.0}
    assert "generation time (problems 2–7) as a multiple of b" in frontier_table(points).notes[0]
    plain = read_bench(tmp_path / "vote")
    assert result_row(plain).to_dict()["time_over"] is None and "time×" in results_table([result_row(plain)]).columns
    assert times_over([plain], None) == [plain]


def test_a_span_that_cuts_a_batch_in_two_is_an_error_naming_the_batch(tmp_path: Path) -> None:
    folder = read_bench(bench(tmp_path))
    cut = r"vote: a: --time-over cuts the batch started at 2026-01-02T00:01:00 \(problems 2–3, 2 rows\) in two"
    with pytest.raises(UsageError, match=cut):
        time_over(folder, ProblemSpan.parse("3:8"))
    with pytest.raises(UsageError, match="starts at problem 8, but the bench has 8"):
        time_over(folder, ProblemSpan.parse("8:"))


def test_records_without_batch_timing_cannot_be_split(tmp_path: Path) -> None:
    untimed = [{k: v for k, v in r.items() if k != "timing"} for r in member_records("vote", "a", "1100")]
    old = make_bench(tmp_path / "old", "vote", {"a": untimed}, verdicts("1110"), {"a": 1.0, "vote": 2.0})
    with pytest.raises(UsageError, match="a: problem p0 has no batch timing"):
        time_over(read_bench(old), ProblemSpan.parse("2:4"))


@pytest.mark.parametrize("text", ["16", "a:b", "5:3", "4:4", "-1:4", "1:2:3"])
def test_a_bad_span_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="--time-over"):
        ProblemSpan.parse(text)


def test_span_labels_clip_to_the_bench() -> None:
    assert ProblemSpan.parse("16:150").label(150) == "problems 16–149"
    assert ProblemSpan.parse("16:500").label(150) == "problems 16–149"
    assert ProblemSpan.parse(" 16 : ").label(105) == "problems 16–104"
