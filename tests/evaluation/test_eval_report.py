"""The reports: a PNG that PIL opens and a self-contained HTML page that contains the table."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from eval_records import answers, record  # tests/evaluation is on sys.path (pytest prepend mode)
from PIL import Image

from ensemble_cli.evaluation.compare import compare
from ensemble_cli.evaluation.report import bench_figure, eval_figure, write_html, write_png
from ensemble_cli.evaluation.summary import grade_all, summarize
from ensemble_cli.evaluation.views import bench_tables, eval_tables


def test_bench_report_png_and_html(tmp_path: Path) -> None:
    a = answers("1100")
    b = [record(f"p{i}", v, "#### 1", attribution=[("b", "x")]) for i, v in enumerate("1001")]
    ens = [record(f"p{i}", v, "#### 1", attribution=[("a", "xx"), ("b", "y")]) for i, v in enumerate("1101")]
    result = compare({"a": a, "b": b}, ens, {"a": 1.0, "b": 1.5, "duo": 2.0}, ensemble_name="duo")
    tables = bench_tables(result, "duo")
    png = bench_figure(result, "duo")
    write_png(tmp_path / "r.png", png)
    write_html(tmp_path / "r.html", "ensemble bench: duo", tables, png)

    with Image.open(tmp_path / "r.png") as image:
        image.verify()
        assert image.format == "PNG" and image.size[0] > 800
    page = (tmp_path / "r.html").read_text()
    assert page.startswith("<!doctype html>") and "<table>" in page
    # the table's cells: the ensemble's accuracy, the oracle, the McNemar row
    assert "<td>duo (ensemble)</td><td>75.0%</td>" in page
    assert "<td>oracle</td><td>75.0%</td>" in page
    assert "<td>exact McNemar p</td>" in page
    embedded = re.search(r'src="data:image/png;base64,([^"]+)"', page)
    assert embedded is not None and base64.b64decode(embedded.group(1)) == png


def test_eval_report_with_subjects(tmp_path: Path) -> None:
    recs = [record("p0", "1", subject="algebra"), record("p1", "2", subject="geometry")]
    graded, ungraded = grade_all(recs)
    summaries = [summarize("run.jsonl", graded, ungraded)]
    tables = eval_tables(summaries)
    assert [t.title for t in tables] == ["ensemble eval", "run.jsonl by subject"]
    write_html(tmp_path / "e.html", "ensemble eval", tables, eval_figure(summaries))
    page = (tmp_path / "e.html").read_text()
    assert "<td>run.jsonl</td><td>2</td><td>1</td><td>50.0%</td>" in page
    assert "<td>algebra</td><td>1</td><td>1</td><td>100.0%</td>" in page
