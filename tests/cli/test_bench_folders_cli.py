"""``ensemble bench plot`` and ``ensemble bench summary`` on hand-made bench folders: the PNG, the
tables in each format, exit codes and messages; and ``ensemble bench RECIPE`` still meaning ``run``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from ensemble_cli.cli.main import app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))
from bench_dirs import make_bench, member_records, verdicts  # noqa: E402 - the bench-folder factory of tests/evaluation

runner = CliRunner()
A, B = "11000001", "11110000"


@pytest.fixture
def folders(tmp_path: Path) -> list[Path]:
    out = []
    for recipe, ensemble, seconds in (("vote", "11111001", 60.0), ("cascade", "11110000", 14.0)):
        members = {"a": member_records(recipe, "a", A), "b": member_records(recipe, "b", B)}
        out.append(
            make_bench(tmp_path / recipe, recipe, members, verdicts(ensemble), {"a": 10.0, "b": 20.0, recipe: seconds})
        )
    return out


def test_plot_writes_the_png_and_prints_the_points(folders: list[Path], tmp_path: Path) -> None:
    png = tmp_path / "figs" / "frontier.png"
    result = runner.invoke(app, ["bench", "plot", *map(str, folders), "-o", str(png), "--format", "json"])
    assert result.exit_code == 0, result.output
    with Image.open(png) as image:
        assert image.format == "PNG"
    doc = json.loads(result.stdout)
    assert doc["reference"] == "b" and doc["cost"] == "time" and doc["problems"] == 8
    assert {p["label"]: p["cost"] for p in doc["points"]} == {"a": 0.5, "b": 1.0, "vote": 3.0, "cascade": 0.7}
    assert {p["label"] for p in doc["points"] if p["frontier"]} == {"a", "cascade", "vote"}
    assert f"figure in {png}" in result.stderr

    tokens = runner.invoke(
        app, ["bench", "plot", *map(str, folders), "-o", str(png), "--cost", "tokens"], env={"COLUMNS": "200"}
    )
    assert tokens.exit_code == 0, tokens.output
    assert "tokens×" in tokens.stdout and "vote (ensemble)" in tokens.stdout
    bad = runner.invoke(app, ["bench", "plot", str(folders[0]), "--cost", "flops"])
    assert bad.exit_code == 2 and "flops" in bad.stderr


def test_plot_names_a_folder_that_is_not_a_bench(folders: list[Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["bench", "plot", str(folders[0]), str(empty), "-o", str(tmp_path / "f.png")])
    assert result.exit_code == 2
    assert f"error: {empty} is not a finished bench folder: it has no bench.json" in result.stderr
    assert not (tmp_path / "f.png").exists()


def test_plot_refuses_folders_on_other_problems(folders: list[Path], tmp_path: Path) -> None:
    other = make_bench(
        tmp_path / "math", "vote", {"a": member_records("vote", "a", "1100")}, verdicts("1110"), {"a": 1.0, "vote": 2.0}
    )
    result = runner.invoke(app, ["bench", "plot", *map(str, folders), str(other), "-o", str(tmp_path / "f.png")])
    assert result.exit_code == 2
    assert f"bench folder {other} ran other problems than {folders[0]}: 4 problems against 8" in result.stderr


def test_summary_prints_one_row_per_folder_in_every_format(folders: list[Path]) -> None:
    md = runner.invoke(app, ["bench", "summary", *map(str, folders), "--format", "markdown"])
    assert md.exit_code == 0, md.output
    rows = [line for line in md.stdout.splitlines() if line.startswith("| vote") or line.startswith("| cascade")]
    assert len(rows) == 2
    assert rows[0].startswith("| vote | 8 | a 37.5%; b* 50.0% | 75.0% [40.9, 92.9] | 62.5% | +25.0 [")
    assert rows[0].endswith("| ensemble bench vote.yaml --dataset gsm8k --limit 8 |")

    doc = json.loads(runner.invoke(app, ["bench", "summary", *map(str, folders), "--format", "json"]).stdout)
    assert [r["recipe"] for r in doc["results"]] == ["vote", "cascade"]
    vote = doc["results"][0]
    assert vote["mcnemar"] == {"ensemble_only": 2, "best_only": 0, "p_value": 0.5}
    assert vote["lift"] == 0.25 and vote["lift_ci95"][0] < 0.25 < vote["lift_ci95"][1]
    assert vote["time_vs_best"] == 3.0 and vote["escalated"] is None

    table = runner.invoke(app, ["bench", "summary", str(folders[1])], env={"COLUMNS": "250"})
    assert table.exit_code == 0 and "cascade" in table.stdout and "bench results" in table.stdout

    missing = runner.invoke(app, ["bench", "summary", str(folders[0]), str(folders[0].parent / "nope")])
    assert missing.exit_code == 2 and "nope: not found, not a bench folder" in missing.stderr


def test_versus_prints_the_paired_test_in_every_format(folders: list[Path]) -> None:
    vote, cascade = map(str, folders)
    md = runner.invoke(app, ["bench", "versus", vote, cascade, "--format", "markdown"])
    assert md.exit_code == 0, md.output
    assert "**A = vote against B = cascade**" in md.stdout
    row = next(line for line in md.stdout.splitlines() if line.startswith("| 8 |"))
    assert row.startswith("| 8 | 75.0% [40.9, 92.9] | 50.0% [") and "| 0.5 (2/0) |" in row

    doc = json.loads(runner.invoke(app, ["bench", "versus", vote, cascade, "-f", "json"]).stdout)
    assert doc["mcnemar"] == {"a_only": 2, "b_only": 0, "p_value": 0.5}
    assert doc["a"]["name"] == "vote" and doc["b"]["correct"] == 4 and doc["difference"] == 0.25

    table = runner.invoke(app, ["bench", "versus", vote, cascade], env={"COLUMNS": "120"})
    assert table.exit_code == 0 and "A = vote against B = cascade" in table.stdout

    itself = runner.invoke(app, ["bench", "versus", vote, vote])
    assert itself.exit_code == 2 and "against itself" in itself.stderr
    missing = runner.invoke(app, ["bench", "versus", vote, str(folders[0].parent / "nope")])
    assert missing.exit_code == 2 and "nope: not found, not a bench folder" in missing.stderr


def test_bench_is_a_group_whose_default_is_run(tmp_path: Path) -> None:
    helped = runner.invoke(app, ["bench", "--help"], env={"COLUMNS": "200"})
    assert helped.exit_code == 0
    for command in ("run", "plot", "summary", "versus"):
        assert f"│ {command} " in helped.stdout
    # a recipe first (or an option first) is `bench run`: it fails on the recipe, not on "no such command"
    for args in (
        ["bench", str(tmp_path / "r.yaml"), "--dataset", "gsm8k"],
        ["bench", "--limit", "3", "x.yaml", "-d", "gsm8k"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "recipe file not found" in result.stderr, result.output


def test_summary_and_plot_time_over_a_span_of_whole_batches(tmp_path: Path) -> None:
    from bench_dirs import timed

    members = {
        "a": timed(member_records("vote", "a", A), [30.0, 1.0, 1.0, 1.0], day="02"),
        "b": timed(member_records("vote", "b", B), [60.0, 2.0, 2.0, 2.0], day="03"),
    }
    folder = make_bench(
        tmp_path / "vote", "vote", members, timed(verdicts("11111001"), [100.0, 6.0, 6.0, 6.0]),
        {"a": 33.0, "b": 66.0, "vote": 118.0},
    )
    md = runner.invoke(app, ["bench", "summary", str(folder), "--time-over", "2:8", "--format", "markdown"])
    assert md.exit_code == 0, md.output
    assert "| time× (problems 2–7) |" in md.stdout and "| 3.00× |" in md.stdout
    doc = json.loads(runner.invoke(app, ["bench", "summary", str(folder), "--time-over", "2:8", "-f", "json"]).stdout)
    assert doc["results"][0]["time_vs_best"] == 3.0 and doc["results"][0]["time_over"] == "problems 2–7"
    png = tmp_path / "f.png"
    plot = runner.invoke(app, ["bench", "plot", str(folder), "--time-over", "2:", "-o", str(png), "-f", "json"])
    assert plot.exit_code == 0, plot.output
    assert {p["label"]: p["cost"] for p in json.loads(plot.stdout)["points"]} == {"a": 0.5, "b": 1.0, "vote": 3.0}
    cut = runner.invoke(app, ["bench", "summary", str(folder), "--time-over", "3:8"])
    assert cut.exit_code == 2 and "cuts the batch started at" in cut.stderr
    bad = runner.invoke(app, ["bench", "summary", str(folder), "--time-over", "16"])
    assert bad.exit_code == 2 and "--time-over '16': expected START:STOP" in bad.stderr
