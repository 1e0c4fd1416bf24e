"""What ``ensemble run`` shows on stderr at the end: the summary table and the output path.

Everything goes to a stderr console so stdout stays pure JSONL when ``--output -``. Rates are
computed from the generation phase only (model loading is reported separately). The status lines
before the run are ``load_status``'s, the progress during it ``run_progress``'s.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from ..batch import Pending, RunStats
from ..io.writers import STDOUT
from .base import RunDisplay, RunReport
from .resume_hint import resume_command

if TYPE_CHECKING:
    from ..recipe import ResolvedRecipe


def stderr_console() -> Console:
    """A console bound to the current ``sys.stderr`` (looked up at print time, so tests capture it)."""
    return Console(stderr=True, highlight=False)


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


class ConsoleRunDisplay(RunDisplay):
    """``ensemble run``'s display (status lines, progress bar, summary) on ``console`` (stderr);
    also what the Python API's ``Ensemble.run(progress=True)`` shows."""

    def __init__(self, console: Console, *, resume_hint: bool = True) -> None:
        self.console = console
        self.resume_hint = resume_hint  # the `ensemble run ... --resume` line: only for the CLI

    def planned(self, resolved: ResolvedRecipe, todo: int, rows: int, output: str) -> None:
        from .load_status import describe_plan

        self.console.print(describe_plan(resolved, todo, rows, output), markup=False, soft_wrap=True)

    def repaired(self, nbytes: int, output: str) -> None:
        self.console.print(
            f"removed an unfinished last line ({nbytes} bytes) left in {output} by an interrupted run",
            style="yellow", markup=False,
        )

    def nothing_to_do(self, skipped: int, output: str) -> None:
        self.console.print(f"nothing to do: all {skipped} rows are already in {output}", markup=False)

    @contextlib.contextmanager
    def loading(self) -> Iterator[Any]:
        from .load_status import LoadStatus

        with LoadStatus(self.console) as status:
            yield status

    def loaded(self, seconds: float) -> None:
        self.console.print(f"models ready in {seconds:.1f} s", markup=False)

    @contextlib.contextmanager
    def running(self, total: int, max_tokens: int) -> Iterator[tuple[Any, Any]]:
        from .run_progress import RunProgress

        with RunProgress(self.console, total=total, max_tokens=max_tokens) as progress:
            yield progress.on_record, progress.on_progress

    def worker_lost(self, message: str) -> None:
        self.console.print(message, style="yellow", markup=False, soft_wrap=True)

    def interrupted(self, written: int, output: str) -> None:
        target = "stdout" if output == STDOUT else output
        self.console.print(f"\ninterrupted: {written} records written to {target}.", style="yellow", markup=False)
        if output != STDOUT and self.resume_hint:
            command = resume_command(output, ("--output", "-o"))
            self.console.print(f"continue with: {command}", soft_wrap=True, markup=False)

    def reader_left(self, written: int) -> None:
        self.console.print(f"\noutput closed by the reader after {written} records", markup=False)

    def summary(self, report: RunReport) -> None:
        print_summary(
            self.console, report.stats, report.plan,
            seconds=report.seconds, load_seconds=report.load_seconds, output=report.output,
        )
