"""``bench plot`` / ``bench summary`` logic on hand-made bench folders: reading them back, the
frontier (deduplicated members, cost relative to the reference member, Pareto points), the results
rows, and the errors that name the folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from bench_dirs import make_bench, member_records, timed, verdicts  # tests/evaluation is on sys.path
from PIL import Image

from ensemble_cli.errors import UsageError
from ensemble_cli.evaluation.folders import check_same_problems, read_bench, read_benches
from ensemble_cli.evaluation.frontier import frontier, frontier_figure, frontier_table
from ensemble_cli.evaluation.results import result_row, results_table
from ensemble_cli.evaluation.stats import mcnemar_exact, paired_difference_interval

A, B = "11000001", "11110000"  # 3/8 and 4/8 (b is the best member); oracle 5/8


def two_recipes(root: Path) -> tuple[Path, Path]:
    """``vote`` measured both members; ``cascade`` copied a (--baselines) and ran b again (same outputs)."""
    vote = make_bench(
        root / "vote",
        "vote",
        {"a": member_records("vote", "a", A, tokens=10), "b": member_records("vote", "b", B, tokens=20)},
        # 6/8: right where b is wrong on p4, p7; never worse
        verdicts("11111001", tokens=50, attribution=[("a", "abc"), ("b", "d")]),
        {"a": 10.0, "b": 20.0, "vote": 60.0},
    )
    escalated = verdicts("11110000", tokens=15)
    for rec, flag in zip(escalated, [True, False, True, False, False, True, False, False], strict=True):
        rec["summary"] = {"escalated": flag}
    cascade = make_bench(
        root / "cascade",
        "cascade",
        {"a": member_records("cascade", "a", A, tokens=10), "b": member_records("cascade", "b", B, tokens=20)},
        escalated,
        {"a": 10.5, "b": 22.0, "cascade": 14.0},
        reused=("a",),
    )
    return vote, cascade


def test_a_folder_is_read_back_and_regraded_wherever_it_was_benched(tmp_path: Path) -> None:
    vote, _ = two_recipes(tmp_path)
    moved = tmp_path / "moved" / "vote"
    shutil.copytree(vote, moved)  # bench.json names its files under another folder: found by name
    folder = read_bench(moved)
    assert folder.recipe == "vote" and list(folder.members) == ["a", "b"] and folder.ensemble_name == "vote"
    assert folder.comparison.best == "b" and folder.comparison.ensemble.accuracy.correct == 6
    assert folder.seconds == {"a": 10.0, "b": 20.0, "vote": 60.0}
    assert folder.command == "ensemble bench vote.yaml --dataset gsm8k --limit 8"


def test_frontier_dedupes_members_and_puts_cost_relative_to_the_reference(tmp_path: Path) -> None:
    result = frontier(read_benches(two_recipes(tmp_path)))
    assert result.reference == "b" and result.problems == 8
    members = {p.label: p for p in result.members}
    assert set(members) == {"a", "b"}  # the same runs in both folders: one point each
    assert members["a"].folders == [str(tmp_path / "vote"), str(tmp_path / "cascade")]
    assert members["a"].raw == 10.0  # from vote, which measured it (cascade copied it)
    assert members["a"].cost == pytest.approx(0.5)
    assert members["b"].cost == pytest.approx(1.0)
    ensembles = {p.label: p for p in result.ensembles}
    assert ensembles["vote"].cost == pytest.approx(3.0)
    assert ensembles["cascade"].cost == pytest.approx(14.0 / 22.0)  # its own bench's run of b
    frontier_points = {p.label for p in result.points if p.on_frontier}
    assert frontier_points == {"a", "cascade", "vote"}  # b costs more than cascade for the same 4/8
    assert [(label, acc.correct) for label, acc in result.oracles] == [("oracle of a + b", 5)]

    tokens = frontier(read_benches([tmp_path / "vote", tmp_path / "cascade"]), cost="tokens")
    by_label = {p.label: p.cost for p in tokens.points}
    assert by_label == pytest.approx({"a": 0.5, "b": 1.0, "vote": 2.5, "cascade": 0.75})


def test_another_run_of_a_member_is_its_own_point_with_its_folder_named(tmp_path: Path) -> None:
    vote, _ = two_recipes(tmp_path)
    other = make_bench(
        tmp_path / "other",
        "vote-t07",
        {"a": member_records("vote-t07", "a", A), "b": member_records("vote-t07", "b", "11100001", model="b")},
        verdicts("11100001"),
        {"a": 10.0, "b": 30.0, "vote-t07": 45.0},
    )
    result = frontier(read_benches([vote, other]))
    assert sorted(p.label for p in result.members) == ["a", "b (other)", "b (vote)"]
    # two sets of member runs, two oracles
    assert [(label, acc.correct) for label, acc in result.oracles] == [
        ("oracle of a + b (vote)", 5),
        ("oracle of a + b (other)", 4),
    ]
    # other's costs are divided by its own run of b's configuration (same settings, other outputs)
    assert next(p for p in result.ensembles if p.label == "vote-t07").cost == pytest.approx(1.5)
    assert next(p for p in result.members if p.label == "b (other)").cost == pytest.approx(1.0)


def test_frontier_figure_is_a_png(tmp_path: Path) -> None:
    result = frontier(read_benches(two_recipes(tmp_path)))
    png = tmp_path / "frontier.png"
    png.write_bytes(frontier_figure(result))
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size[0] > 600 and image.size[1] > 400
    table = frontier_table(result)
    assert [row[0] for row in table.rows] == [
        "a (member)",
        "b (member)",
        "vote (ensemble)",
        "cascade (ensemble)",
        "oracle of a + b",
    ]
    assert table.rows[2][3] == "3.00×" and table.rows[2][4] == "yes"


def test_results_row_has_the_paired_figures(tmp_path: Path) -> None:
    vote, cascade = (result_row(read_bench(p)) for p in two_recipes(tmp_path))
    assert [(n, a.correct) for n, a in vote.members] == [("a", 3), ("b", 4)] and vote.best == "b"
    assert vote.ensemble.correct == 6 and vote.oracle.correct == 5
    assert vote.lift == pytest.approx(0.25)
    assert (vote.ensemble_only, vote.best_only) == (2, 0)
    assert vote.p_value == pytest.approx(mcnemar_exact(2, 0))
    assert vote.lift_ci == pytest.approx(paired_difference_interval(4, 2, 0, 2))  # both, ens only, best only, neither
    assert vote.lift_ci[0] < vote.lift < vote.lift_ci[1]
    assert vote.tokens_ratio == pytest.approx(2.5) and vote.time_ratio == pytest.approx(3.0)
    assert vote.shares == {"a": 0.75, "b": 0.25} and cascade.shares == {}  # cascade's records attribute nothing
    assert vote.escalated is None
    assert cascade.escalated is not None and (cascade.escalated.correct, cascade.escalated.total) == (3, 8)
    assert cascade.time_ratio == pytest.approx(14.0 / 22.0)

    md = results_table([vote, cascade]).to_markdown()
    assert "| vote | 8 | a 37.5%; b* 50.0% | 75.0% [40.9, 92.9] | 62.5% | +25.0 [" in md
    assert "| 0.5 (2/0) | 2.50× | 3.00× | a 75%, b 25% | - |" in md
    assert "| - | 37.5% | ensemble bench cascade.yaml --dataset gsm8k --limit 8 |" in md


def test_results_row_of_a_bench_without_a_recorded_command(tmp_path: Path) -> None:
    old = make_bench(
        tmp_path / "old", "old", {"a": member_records("old", "a", A)}, verdicts(A), {"a": 1.0, "old": 1.0}, command=None
    )
    row = result_row(read_bench(old))
    assert row.command is None and row.lift == 0 and row.lift_ci[0] < 0 < row.lift_ci[1]
    assert "not recorded" in results_table([row]).rows[0][-1]


@pytest.mark.parametrize(
    ("breakage", "says"),
    [
        (lambda d: shutil.rmtree(d), "{d}: not found, not a bench folder"),
        (lambda d: (d / "bench.json").unlink(), "{d} is not a finished bench folder: it has no bench.json"),
        (lambda d: (d / "bench.json").write_text("{oops"), "{d}/bench.json is not JSON"),
        (
            lambda d: (d / "bench.json").write_text(json.dumps({"recipe": "vote"})),
            "{d}/bench.json is not a bench document: members: Field required",
        ),
        (lambda d: (d / "member-b.jsonl").unlink(), "{d}: records file member-b.jsonl of 'b' is missing"),
    ],
)
def test_a_folder_that_is_not_a_finished_bench_is_named(tmp_path: Path, breakage, says: str) -> None:  # noqa: ANN001
    vote, _ = two_recipes(tmp_path)
    breakage(vote)
    with pytest.raises(UsageError) as err:
        read_bench(vote)
    assert says.format(d=vote) in str(err.value)


def test_folders_on_other_problems_are_refused_naming_the_folder(tmp_path: Path) -> None:
    vote, _ = two_recipes(tmp_path)
    fewer = make_bench(
        tmp_path / "fewer",
        "vote",
        {"a": member_records("vote", "a", A[:6])},
        verdicts("111100"),
        {"a": 1.0, "vote": 1.0},
    )
    with pytest.raises(
        UsageError,
        match=rf"bench folder {fewer} ran other problems than {vote}: 6 problems "
        r"against 8; 'p6', 'p7' missing",
    ):
        frontier(read_benches([vote, fewer]))
    reworded = make_bench(
        tmp_path / "reworded",
        "vote",
        {"a": member_records("vote", "a", A)},
        verdicts(A, prompt="question"),
        {"a": 1.0, "vote": 1.0},
    )
    with pytest.raises(UsageError, match=r"ran other problems than .*: problem 'p0' has another prompt"):
        check_same_problems([read_bench(vote), read_bench(reworded)])
    assert len(read_benches([vote, fewer])) == 2  # a summary may list any benches


def test_an_unfinished_bench_is_read_with_partial_on_the_problems_all_systems_finished(tmp_path: Path) -> None:
    folder = tmp_path / "running"
    folder.mkdir()
    ensemble_recipe = {"name": "duo", "models": [{"name": "b"}, {"name": "a"}]}
    rows = {
        "member-a.jsonl": timed(member_records("duo", "a", "110011"), 1.0),  # 3 batches done
        "member-b.jsonl": timed(member_records("duo", "b", "1000"), 2.0),  # 2 batches done
        "ensemble.jsonl": [{**r, "recipe": ensemble_recipe} for r in timed(verdicts("1111"), 5.0)],
    }
    for name, records in rows.items():
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(UsageError, match="not a finished bench folder"):
        read_bench(folder)
    bench = read_bench(folder, partial=True)
    assert bench.partial and bench.recipe == "duo" and bench.ensemble_name == "duo"
    assert list(bench.members) == ["b", "a"]  # recipe order
    assert [len(r) for r in bench.members.values()] == [4, 4] and len(bench.ensemble) == 4
    assert bench.seconds == {"b": 4.0, "a": 2.0, "duo": 10.0}  # two finished batches each
    row = result_row(bench)
    assert row.problems == 4 and row.command.startswith("(partial:")
    assert row.ensemble.value == 1.0


def test_partial_still_needs_records(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="not a bench folder"):
        read_bench(tmp_path / "empty", partial=True)
