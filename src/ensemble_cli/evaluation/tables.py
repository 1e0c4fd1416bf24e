"""One table model, three renderings: rich (terminal), Markdown (papers, issues), HTML (report).

Eval and bench build ``Table``s of already-formatted strings once; every output format renders the
same cells, so the terminal, the Markdown and the HTML report can never disagree.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich import box
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

    def to_rich(self, width: int = 80) -> RichTable:
        """A table that stays readable down to an 80-column terminal (``width``: the console's).

        Rich squeezes every wrappable column alike when a table is too wide, which cut headers and
        figures mid-word ("accura / cy", "31.50 / s"). Here only the first column (file or system
        names) may wrap and figures never do; the frame is light (a rule under the header, no side
        borders). Where the figures would leave the names too little room, multi-word headers go
        on one line per word ("no / answer", never "accura / cy"), then the columns move from two
        spaces apart to one.
        """
        for split, gap in ((False, 2), (True, 2), (True, 1)):
            if self._figures_width(gap, split) + _NAME_ROOM <= width:
                break
        table = RichTable(
            title=self.title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
            collapse_padding=True, padding=(0, gap - 1),
        )
        for i, col in enumerate(self.columns):
            if i == 0:
                table.add_column(col, justify="left", overflow="fold")
            else:
                table.add_column(_header(col) if split else col, justify="right", no_wrap=True)
        for i, row in enumerate(self.rows):
            table.add_row(*(Text(cell) for cell in row), style="bold" if i in self.bold_rows else None)
        if self.notes:
            table.caption = "\n".join(self.notes)
            table.caption_justify = "left"
        return table

    def _figures_width(self, gap: int, split: bool) -> int:
        """Width of every column but the first, gaps included (what the names must leave room for)."""
        total = 0
        for i, col in enumerate(self.columns[1:], start=1):
            cells = [row[i] for row in self.rows if i < len(row)]
            header = _header(col).splitlines() if split else [col]
            total += gap + max(len(line) for line in [*header, *cells])
        return total

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


#: what the first column (names) should keep before the gaps between columns shrink to one space
_NAME_ROOM = 12


def _header(name: str) -> str:
    """A header on as many lines as it has words, so a narrow column never cuts a word."""
    return name.replace(" ", "\n")


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
