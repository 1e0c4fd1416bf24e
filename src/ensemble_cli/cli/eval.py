"""``ensemble eval``: grade result files written by ``ensemble run`` (or ``bench``).

Final answers are extracted and compared with math-verify (``ensemble_cli.answers``); a failed row
(an error record, which keeps its row's label) or an output without an answer is wrong. A file with
no result record (the input dataset by mistake) is refused with exit 2. Per file: accuracy with a 95% Wilson interval, a
per-subject breakdown when records carry a ``subject``, mean completion tokens and latency.
Results go to stdout (``--format table|json|markdown``); warnings go to stderr, so
``ensemble eval out.jsonl --format json | jq`` works. ``--report``/``--plot`` write an HTML page and
a PNG of the accuracies.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .eval_format import OutputFormat, emit

app = typer.Typer()


@app.command("eval")
def eval_command(
    files: Annotated[list[str], typer.Argument(help="Result JSONL files (ensemble run output).", show_default=False)],
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output on stdout.")] = OutputFormat.table,
    report: Annotated[str | None, typer.Option(help="Also write an HTML report (tables and figure).")] = None,
    plot: Annotated[str | None, typer.Option(help="Also write a PNG of the accuracies.")] = None,
) -> None:
    """Grade result files: accuracy (95% Wilson interval), per subject, tokens and latency."""
    from ..api.tools import grade_files  # the same function as the Python API's evaluate()
    from ..evaluation.views import eval_tables

    summaries, document = grade_files(files, lambda text: typer.echo(f"warning: {text}", err=True))
    tables = eval_tables(summaries)
    emit(tables, document, fmt)
    if report or plot:
        from ..evaluation.report import eval_figure, write_html, write_png

        png = eval_figure(summaries)
        if plot:
            write_png(plot, png)
        if report:
            write_html(report, "ensemble eval", tables, png)

