"""``ensemble bench plot``, ``summary`` and ``versus``: finished bench folders compared.

All read folders that ``ensemble bench`` wrote (``evaluation.folders``), re-grade their records and
run no model. ``plot`` draws accuracy against cost for all of them (``evaluation.frontier``: the
folders must have run the same problems); ``summary`` prints one results row per folder
(``evaluation.results``), the table ``docs/results.md`` is made of; ``versus`` tests one folder's
ensemble against another's on the problems both ran (``evaluation.versus``: the Self-MoA question).
Tables go to stdout, the PNG path and messages to stderr.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from ..console.run_display import stderr_console
from .eval_format import OutputFormat, emit


class CostAxis(StrEnum):
    time = "time"
    tokens = "tokens"


_FOLDERS_HELP = "Bench folders (each the --output-dir of an `ensemble bench`)."
_PARTIAL_HELP = (
    "Also read unfinished benches (no bench.json: still running or interrupted), "
    "on the problems every system has finished."
)


def plot(
    folders: Annotated[list[str], typer.Argument(help=_FOLDERS_HELP, show_default=False)],
    output: Annotated[str, typer.Option("--output", "-o", help="PNG path.")] = "frontier.png",
    cost: Annotated[
        CostAxis, typer.Option(help="x axis: generation time or tokens sampled, × the most accurate member.")
    ] = CostAxis.time,
    title: Annotated[str | None, typer.Option(help="Figure title. [default: what is plotted]")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Points table on stdout.")] = OutputFormat.table,
    partial: Annotated[bool, typer.Option("--partial", help=_PARTIAL_HELP)] = False,
) -> None:
    """Accuracy against cost for several bench folders on the same problems, with the Pareto frontier."""
    from ..evaluation.folders import read_benches
    from ..evaluation.frontier import frontier, frontier_figure, frontier_table
    from ..evaluation.report import write_png

    result = frontier(read_benches(folders, partial=partial), cost=cost.value)
    write_png(output, frontier_figure(result, title))
    emit([frontier_table(result)], result.to_dict(), fmt)
    stderr_console().print(f"figure in {output}", soft_wrap=True, markup=False)


def summary(
    folders: Annotated[list[str], typer.Argument(help=_FOLDERS_HELP, show_default=False)],
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output on stdout.")] = OutputFormat.table,
    partial: Annotated[bool, typer.Option("--partial", help=_PARTIAL_HELP)] = False,
) -> None:
    """One results row per bench folder: accuracies, lift with its paired 95% CI, McNemar, cost, command."""
    from ..evaluation.folders import read_benches
    from ..evaluation.results import result_row, results_document, results_table

    rows = [result_row(f) for f in read_benches(folders, partial=partial)]
    emit([results_table(rows)], results_document(rows), fmt)


def versus(
    first: Annotated[str, typer.Argument(help="Bench folder whose ensemble is tested.", show_default=False)],
    second: Annotated[str, typer.Argument(help="Bench folder it is tested against.", show_default=False)],
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output on stdout.")] = OutputFormat.table,
    partial: Annotated[bool, typer.Option("--partial", help=_PARTIAL_HELP)] = False,
) -> None:
    """One ensemble against another on the problems both ran: paired difference, exact McNemar, cost."""
    from ..evaluation.folders import read_bench
    from ..evaluation.versus import versus as head_to_head
    from ..evaluation.versus import versus_table

    result = head_to_head(read_bench(first, partial=partial), read_bench(second, partial=partial))
    emit([versus_table(result)], result.to_dict(), fmt)
