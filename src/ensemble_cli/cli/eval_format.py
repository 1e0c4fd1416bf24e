"""What ``eval`` and ``bench`` share at the terminal: the ``--format`` choice and table printing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import typer
from rich.console import Console

from ..evaluation.tables import Table, render


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


def emit(tables: Sequence[Table], document: dict[str, Any], fmt: OutputFormat) -> None:
    """Print on stdout: rich tables, one JSON document, or Markdown (nothing else goes to stdout)."""
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
    elif fmt is OutputFormat.markdown:
        typer.echo(render(tables, "markdown"), nl=False)
    else:
        console = Console(highlight=False)
        for table in tables:
            console.print(table.to_rich(console.width))
