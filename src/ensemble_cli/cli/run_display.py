"""What ``ensemble run`` shows on stderr at the end: the summary table and the output path.

Everything goes to a stderr console so stdout stays pure JSONL when ``--output -``. Rates are
computed from the generation phase only (model loading is reported separately). The status lines
before the run are ``load_status``'s, the progress during it ``run_progress``'s.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ..batch import Pending, RunStats


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
