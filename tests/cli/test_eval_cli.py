"""``ensemble eval`` on hand-made record files: the three formats, reports, exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

from ensemble_cli.cli.main import app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))
from eval_records import record  # noqa: E402 - the shared record factory of tests/evaluation

runner = CliRunner()


def write(path: Path, records: list[dict | str]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def sample(tmp_path: Path) -> Path:
    return write(
        tmp_path / "run.jsonl",
        [
            record("a", "4", "#### 4", subject="algebra", tokens=10, seconds=1.0),
            record("b", None, "#### 5", subject="algebra", tokens=20, seconds=3.0),  # no answer: wrong
            {"id": "c", "error": "GenerationError: boom", "label": "#### 1", "recipe_hash": "x"},  # wrong
            record("d", "2", "$\\boxed{\\frac{4}{2}}$", subject="geometry", tokens=30, seconds=2.0),
            record("e", "7", None),  # no label: not graded
            "not json",
            "[1, 2]",
            {"output": "no id here"},
        ],
    )


def test_json_document(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", str(sample(tmp_path)), "--format", "json"])
    assert result.exit_code == 0, result.output
    [doc] = json.loads(result.stdout)["files"]
    assert (doc["correct"], doc["total"], doc["accuracy"]) == (2, 4, 0.5)
    assert doc["ci95"][0] < 0.5 < doc["ci95"][1]
    assert (doc["missing_answer"], doc["errors"], doc["ungraded"], doc["bad_lines"]) == (1, 1, 1, 3)
    assert doc["bad_line_numbers"] == [6, 7, 8]
    assert doc["mean_completion_tokens"] == 20.0 and doc["mean_latency_s"] == 2.0
    assert doc["by_subject"]["algebra"]["correct"] == 1 and doc["by_subject"]["geometry"]["accuracy"] == 1.0
    assert "3 lines are not records; skipped: line 6 (not JSON: Expecting value at column 1)" in result.stderr
    assert 'line 7 (a JSON list, not an object), line 8 (no "id")' in result.stderr


def test_table_and_markdown(tmp_path: Path) -> None:
    path = sample(tmp_path)
    table = runner.invoke(app, ["eval", str(path)])
    assert table.exit_code == 0, table.output
    assert "run.jsonl" in table.stdout and "50.0%" in table.stdout and "algebra" in table.stdout
    markdown = runner.invoke(app, ["eval", str(path), str(path.rename(tmp_path / "run2.jsonl")), "-f", "markdown"])
    assert markdown.exit_code == 2  # the first file no longer exists


def test_markdown_two_files(tmp_path: Path) -> None:
    one = write(tmp_path / "one.jsonl", [record("a", "1", "#### 1"), record("b", "1", "#### 2")])
    two = write(tmp_path / "two.jsonl", [record("a", "1", "#### 1"), record("b", "2", "#### 2")])
    result = runner.invoke(app, ["eval", str(one), str(two), "--format", "markdown"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "| one.jsonl | 2 | 1 | 50.0% |" in "\n".join(lines)
    assert any(line.startswith("| two.jsonl | 2 | 2 | 100.0% |") for line in lines)


def test_reports(tmp_path: Path) -> None:
    from PIL import Image

    html, png = tmp_path / "out" / "r.html", tmp_path / "r.png"
    result = runner.invoke(app, ["eval", str(sample(tmp_path)), "--report", str(html), "--plot", str(png)])
    assert result.exit_code == 0, result.output
    with Image.open(png) as image:
        assert image.format == "PNG"
    assert "<td>run.jsonl</td>" in html.read_text()


def test_missing_file_is_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "results file" in result.stderr and "not found" in result.stderr


def test_a_file_where_every_row_failed_is_all_errors_and_all_wrong(tmp_path: Path) -> None:
    failed = [
        {"id": i, "prompt": "p", "label": "#### 3", "error": "scorer 'x' raised ValueError", "recipe_hash": "h"}
        for i in ("a", "b")
    ]
    result = runner.invoke(app, ["eval", str(write(tmp_path / "run.jsonl", failed)), "--format", "json"])
    assert result.exit_code == 0, result.output
    [doc] = json.loads(result.stdout)["files"]
    assert (doc["correct"], doc["total"], doc["errors"], doc["ungraded"], doc["missing_answer"]) == (0, 2, 2, 0, 0)


def test_old_error_records_without_a_label_are_errors_but_not_graded(tmp_path: Path) -> None:
    path = write(tmp_path / "old.jsonl", [record("a", "1"), {"id": "b", "error": "IndexError: x", "recipe_hash": "h"}])
    result = runner.invoke(app, ["eval", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    [doc] = json.loads(result.stdout)["files"]
    assert (doc["correct"], doc["total"], doc["errors"], doc["ungraded"]) == (1, 1, 1, 1)
    table = runner.invoke(app, ["eval", str(path)])
    assert "1 records without a usable label, not graded (1 of them error records)" in " ".join(table.stdout.split())


def test_an_input_file_is_not_a_results_file(tmp_path: Path) -> None:
    demo = Path(__file__).resolve().parents[2] / "data" / "demo.jsonl"
    result = runner.invoke(app, ["eval", str(demo)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"error: {demo}: not a results file of `ensemble run` (no record has an id and an output or error)" in (
        " ".join(result.stderr.split())
    )
    garbage = write(tmp_path / "garbage.jsonl", ["not json", {"prompt": "no id"}])
    result = runner.invoke(app, ["eval", str(garbage)])
    assert result.exit_code == 2 and "garbage.jsonl: not a results file" in result.stderr
    assert "line 1 (not JSON" in result.stderr


def test_table_at_80_columns_cuts_no_header_or_figure(tmp_path: Path) -> None:
    """The terminal table honours COLUMNS=80: headers and figures whole, only the file name folds."""
    path = write(tmp_path / "gsm8k.quickstart.ensemble.jsonl",
                 [record(f"p{i}", "1" if i % 3 else "2", "#### 1", tokens=120, seconds=31.5) for i in range(40)])
    result = runner.invoke(app, ["eval", str(path)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    header = next(line for line in lines if line.startswith("file"))
    for word in ("correct", "accuracy", "CI", "answer", "errors", "tokens", "latency"):
        assert f" {word}" in header, header
    row = next(line for line in lines if " 40 " in line)
    assert "65.0%" in row and "120.0" in row and "31.50 s" in row and "[" in row and "]" in row
