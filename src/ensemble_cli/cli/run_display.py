"""What ``ensemble run`` shows on stderr: model loading, a progress bar, per-row failures, a summary.

Everything goes to a stderr console so stdout stays pure JSONL when ``--output -``. Rates are
computed from the generation phase only (model loading is reported separately).
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ..batch import Pending, RunStats


def stderr_console() -> Console:
    """A console bound to the current ``sys.stderr`` (looked up at print time, so tests capture it)."""
    return Console(stderr=True, highlight=False)


class RunProgress:
    """A progress bar over the rows of one run, fed one written record at a time."""

    def __init__(self, console: Console, total: int) -> None:
        self.console = console
        self.started = time.perf_counter()
        self._tokens = 0
        self._progress = Progress(
            TextColumn("[bold]run"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rates]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID = self._progress.add_task("run", total=total, rates="")

    def __enter__(self) -> RunProgress:
        self.started = time.perf_counter()
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def on_record(self, record: dict[str, Any]) -> None:
        """Advance by one row; a failed row is printed above the bar (never silently dropped)."""
        if "error" in record:
            row, reason = escape(repr(record["id"])), escape(str(record["error"]))
            self._progress.console.print(f"[yellow]row {row} failed:[/] {reason}")
            if isinstance(record.get("traceback"), str):  # verbose mode only
                self._progress.console.print(record["traceback"], markup=False, highlight=False, soft_wrap=True)
        else:
            self._tokens += record.get("usage", {}).get("completion_tokens", 0)
        task = self._progress.tasks[0]
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rates = f"{(task.completed + 1) / elapsed:.2f} ex/s  {self._tokens / elapsed:.1f} tok/s"
        self._progress.update(self._task, advance=1, rates=rates)


def print_summary(
    console: Console, stats: RunStats, plan: Pending, *, seconds: float, load_seconds: float, output: str
) -> None:
    """The end-of-run table, then the output path on a line of its own (never cut, easy to copy)."""
    console.print(summary_table(stats, plan, seconds=seconds, load_seconds=load_seconds))
    console.print(f"output: {'stdout' if output == '-' else output}", soft_wrap=True, markup=False)


def summary_table(stats: RunStats, plan: Pending, *, seconds: float, load_seconds: float) -> Table:
    """The end-of-run table: counts, tokens and time."""
    table = Table(title="ensemble run", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("examples ok", str(stats.ok))
    table.add_row("errors", f"[red]{stats.errors}[/]" if stats.errors else "0")
    table.add_row("skipped (resume)", str(plan.skipped))
    if plan.known_errors:
        table.add_row("input errors (earlier)", f"[red]{plan.known_errors}[/]")
    table.add_row("completion tokens", str(stats.completion_tokens))
    table.add_row("model load", f"{load_seconds:.1f} s")
    table.add_row("wall time", f"{seconds:.1f} s")
    rate = stats.completion_tokens / seconds if seconds > 0 else 0.0
    table.add_row("tokens/s", f"{rate:.1f}")
    return table
