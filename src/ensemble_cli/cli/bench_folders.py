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
from typing import TYPE_CHECKING, Annotated

import typer

from ..console.run_display import stderr_console
from .eval_format import OutputFormat, emit

if TYPE_CHECKING:
    from ..evaluation.folders import BenchFolder


class CostAxis(StrEnum):
    time = "time"
    tokens = "tokens"


_FOLDERS_HELP = "Bench folders (each the --output-dir of an `ensemble bench`)."
_PARTIAL_HELP = (
    "Also read unfinished benches (no bench.json: still running or interrupted), "
    "on the problems every system has finished."
)
_TIME_OVER_HELP = (
    "Generation time over problems START:STOP only (run order, 0-based, STOP excluded, whole batches), "
    "for a bench partly run beside other work; accuracy and tokens stay over every problem."
)
TimeOver = Annotated[str | None, typer.Option("--time-over", metavar="START:STOP", help=_TIME_OVER_HELP)]


def _read(folders: list[str], partial: bool, time_over: str | None) -> list[BenchFolder]:
    from ..evaluation.folders import read_benches
    from ..evaluation.time_span import ProblemSpan, times_over

    span = ProblemSpan.parse(time_over) if time_over is not None else None  # a bad span fails before any grading
    return times_over(read_benches(folders, partial=partial), span)


def plot(
    folders: Annotated[list[str], typer.Argument(help=_FOLDERS_HELP, show_default=False)],
    output: Annotated[str, typer.Option("--output", "-o", help="PNG path.")] = "frontier.png",
    cost: Annotated[
        CostAxis, typer.Option(help="x axis: generation time or tokens sampled, × the most accurate member.")
    ] = CostAxis.time,
    title: Annotated[str | None, typer.Option(help="Figure title. [default: what is plotted]")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Points table on stdout.")] = OutputFormat.table,
    partial: Annotated[bool, typer.Option("--partial", help=_PARTIAL_HELP)] = False,
    time_over: TimeOver = None,
) -> None:
    """Accuracy against cost for several bench folders on the same problems, with the Pareto frontier."""
    from ..evaluation.frontier import frontier, frontier_figure, frontier_table
    from ..evaluation.report import write_png

    result = frontier(_read(folders, partial, time_over), cost=cost.value)
    write_png(output, frontier_figure(result, title))
    emit([frontier_table(result)], result.to_dict(), fmt)
    stderr_console().print(f"figure in {output}", soft_wrap=True, markup=False)


def summary(
    folders: Annotated[list[str], typer.Argument(help=_FOLDERS_HELP, show_default=False)],
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output on stdout.")] = OutputFormat.table,
    partial: Annotated[bool, typer.Option("--partial", help=_PARTIAL_HELP)] = False,
    time_over: TimeOver = None,
) -> None:
    """One results row per bench folder: accuracies, lift with its paired 95% CI, McNemar, cost, command."""
    from ..evaluation.results import result_row, results_document, results_table

    rows = [result_row(f) for f in _read(folders, partial, time_over)]
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
