"""``Table.to_rich`` at terminal widths: figures and header words are never cut, only names wrap."""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from ensemble_cli.evaluation.tables import Table
from ensemble_cli.evaluation.views import BENCH_COLUMNS, EVAL_COLUMNS


def render(table: Table, width: int) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(table.to_rich(width))
    return [line.rstrip() for line in console.export_text().splitlines()]


def eval_table() -> Table:
    table = Table("ensemble eval", list(EVAL_COLUMNS))
    table.rows = [
        ["results/gsm8k.quickstart.jsonl", "1319", "1026", "77.8%", "[75.5, 79.9]", "12", "3", "231.4", "131.50 s"],
        ["results/gsm8k.smol.jsonl", "1319", "901", "68.3%", "[65.7, 70.8]", "40", "0", "198.0", "12.25 s"],
    ]
    return table


def bench_table() -> Table:
    table = Table("ensemble bench: recipes/quickstart.yaml (1319 problems)", list(BENCH_COLUMNS))
    table.rows = [
        ["smol (best)", "45.3%", "[42.6, 48.0]", "598/1319", "412345", "1.00×", "1234.5 s", "1.00×", "62.0%"],
        ["quickstart (ensemble)", "48.3%", "[45.6, 51.0]", "637/1319", "912345", "2.21×", "3234.5 s", "2.62×", "100%"],
        ["oracle", "55.3%", "[52.6, 58.0]", "737/1319", "", "", "", "", ""],
    ]
    return table


@pytest.mark.parametrize("make", [eval_table, bench_table])
@pytest.mark.parametrize("width", [80, 100, 160])
def test_fits_and_keeps_words_and_figures_whole(make, width: int) -> None:
    table = make()
    lines = render(table, width)
    text = "\n".join(lines)
    assert max(map(len, lines)) <= width
    words = {w for col in table.columns[1:] for w in col.split()}
    for word in words:  # every header word appears whole, on one line
        assert re.search(rf"(?<!\S){re.escape(word)}(?!\S)", text), (word, text)
    for row in table.rows:
        for cell in row[1:]:
            if cell:
                assert cell in text, (cell, text)


def test_wide_terminal_keeps_headers_on_one_line() -> None:
    lines = render(eval_table(), 160)
    assert any("95% CI" in line and "no answer" in line for line in lines)
    assert any("results/gsm8k.quickstart.jsonl" in line for line in lines)


def test_narrow_terminal_wraps_only_the_names() -> None:
    lines = render(eval_table(), 80)
    text = "\n".join(lines)
    assert "results/gsm8k.quickstart.jsonl" not in text  # the name folds ...
    assert "accura\n" not in text and "accuracy" in text  # ... the headers don't
    header = next(i for i, line in enumerate(lines) if re.search(r"\bfile\b", line))
    assert "latency" in lines[header] and "accuracy" in lines[header]
