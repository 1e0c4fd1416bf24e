"""One table model, three renderings: rich (terminal), Markdown (papers, issues), HTML (report).

Eval and bench build ``Table``s of already-formatted strings once; every output format renders the
same cells, so the terminal, the Markdown and the HTML report can never disagree.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.table import Table as RichTable
from rich.text import Text

from .stats import Accuracy


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    #: index of rows to emphasise (the ensemble line of a bench)
    bold_rows: set[int] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def to_rich(self) -> RichTable:
        table = RichTable(title=self.title, title_justify="left")
        for i, col in enumerate(self.columns):
            table.add_column(col, justify="left" if i == 0 else "right", overflow="fold")
        for i, row in enumerate(self.rows):
            table.add_row(*(Text(cell) for cell in row), style="bold" if i in self.bold_rows else None)
        if self.notes:
            table.caption = "\n".join(self.notes)
            table.caption_justify = "left"
        return table

    def to_markdown(self) -> str:
        def cell(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        lines = [f"**{self.title}**", "", "| " + " | ".join(map(cell, self.columns)) + " |"]
        lines.append("|" + "|".join([":---"] + ["---:"] * (len(self.columns) - 1)) + "|")
        for i, row in enumerate(self.rows):
            cells = [f"**{cell(c)}**" if i in self.bold_rows and c else cell(c) for c in row]
            lines.append("| " + " | ".join(cells) + " |")
        lines += [""] + [f"{note}  " for note in self.notes] if self.notes else []
        return "\n".join(lines)

    def to_html(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(c)}</th>" for c in self.columns)
        body = "".join(
            ('<tr class="em">' if i in self.bold_rows else "<tr>")
            + "".join(f"<td>{esc(c)}</td>" for c in row)
            + "</tr>"
            for i, row in enumerate(self.rows)
        )
        notes = "".join(f'<p class="note">{esc(n)}</p>' for n in self.notes)
        return f"<h2>{esc(self.title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}"


def pct(value: float | None, digits: int = 1) -> str:
    """``0.4567`` → ``45.7%``; missing or nan → ``-``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:.{digits}f}%"


def interval(acc: Accuracy) -> str:
    """The Wilson interval as ``[38.1, 52.0]`` (percent), ``-`` without data."""
    if acc.total == 0:
        return "-"
    return f"[{100 * acc.low:.1f}, {100 * acc.high:.1f}]"


def num(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def render(tables: Sequence[Table], fmt: str) -> str:
    """Markdown text for ``markdown``; other formats are rendered by the caller (rich, JSON)."""
    if fmt != "markdown":
        raise ValueError(fmt)
    return "\n\n".join(t.to_markdown() for t in tables) + "\n"
