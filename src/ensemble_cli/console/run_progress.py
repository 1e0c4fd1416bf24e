"""The progress display of ``ensemble run``: it moves with every round, not only with every batch.

A batch of 8 examples can take a minute before its first record is written, so counting records
alone leaves the bar at ``0/12`` for that long. The runner also reports every round of every
example still being worked on (``RowProgress``: its output tokens and rounds so far), and the
display counts those: tokens written so far, the round the batch is in, and a bar whose fill
credits each unfinished example with ``tokens / max_tokens`` of a row (so the ETA appears after the
first rounds, not after the first batch). The count ``3/12`` is always finished rows.

On a terminal this is a rich progress bar. When stderr is a file or a pipe there is no bar, no
spinner and no ``\\r``: a plain line every ``every_s`` seconds while something moves (every
minute while nothing does), the failures, and a last line, so a log stays readable.

``RunTally`` is the arithmetic (thread-safe: with ``--concurrency`` rounds are reported from
worker threads); ``RunProgress`` draws it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.events import RowProgress

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID


@dataclass
class RunTally:
    """Rows done, tokens written and the rows in flight, for one run."""

    total: int
    max_tokens: int
    done: int = 0
    failed: int = 0
    tokens_done: int = 0  #: completion tokens of finished rows
    in_flight: dict[str, RowProgress] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def progress(self, row_id: str, progress: RowProgress) -> None:
        """A round of an unfinished row (ignored once its record is in)."""
        with self._lock:
            self.in_flight[row_id] = progress

    def record(self, record: dict[str, Any]) -> None:
        """A row's record was written (a result or an error)."""
        with self._lock:
            self.in_flight.pop(str(record.get("id")), None)
            self.done += 1
            if "error" in record:
                self.failed += 1
            else:
                self.tokens_done += record.get("usage", {}).get("completion_tokens", 0)

    @property
    def tokens(self) -> int:
        """Tokens written so far: finished rows plus the output of rows in flight."""
        with self._lock:
            return self.tokens_done + sum(p.tokens for p in self.in_flight.values())

    @property
    def round(self) -> int:
        """The furthest round among the rows in flight (0 when none is)."""
        with self._lock:
            return max((p.rounds for p in self.in_flight.values()), default=0)

    @property
    def completed(self) -> float:
        """Rows done, plus each row in flight credited with its share of ``max_tokens`` (< 1)."""
        if self.max_tokens <= 0:
            return float(self.done)
        with self._lock:
            share = sum(min(p.tokens / self.max_tokens, 0.95) for p in self.in_flight.values())
            return min(self.done + share, float(self.total))


class RunProgress:
    """The run's progress on ``console`` (a bar on a terminal, occasional plain lines otherwise)."""

    def __init__(self, console: Console, total: int, *, max_tokens: int = 0, every_s: float = 10.0) -> None:
        self.console = console
        self.tally = RunTally(total, max_tokens)
        self.every_s = every_s
        self.live = console.is_terminal and not console.is_dumb_terminal
        self.started = time.perf_counter()
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> RunProgress:
        self.started = time.perf_counter()
        if self.live:
            from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn
            from rich.text import Text

            owner = self

            class StatsColumn(ProgressColumn):
                """Counts, rates and ETA computed when drawn, so they keep moving between rounds."""

                def render(self, task: Any) -> Text:
                    return Text(owner._detail())

            self._progress = Progress(
                TextColumn("[bold]run"), BarColumn(), StatsColumn(), console=self.console, transient=False,
            )
            self._task = self._progress.add_task("run", total=self.tally.total)
            self._progress.start()
        else:
            self._say(f"run: {self.tally.total} rows to do")
            self._ticker = threading.Thread(target=self._tick, name="ensemble-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._refresh()
            self._progress.stop()
        if self._ticker is not None:
            self._stop.set()
            self._ticker.join()
            if exc[0] is None:
                self._say(self._line())

    # ------------------------------------------------------------------ hooks for BatchRunner
    def on_progress(self, row_id: str, progress: RowProgress) -> None:
        """A round of an unfinished row (``BatchRunner(on_progress=...)``)."""
        self.tally.progress(row_id, progress)
        self._refresh()

    def on_record(self, record: dict[str, Any]) -> None:
        """A row is done; a failed row is printed above the bar (never silently dropped)."""
        self.tally.record(record)
        if "error" in record:
            self.console.print(f"row {record['id']!r} failed: {record['error']}", style="yellow",
                               markup=False, highlight=False, soft_wrap=True)
            if isinstance(record.get("traceback"), str):  # verbose mode only
                self.console.print(record["traceback"], markup=False, highlight=False, soft_wrap=True)
        self._refresh()

    # ------------------------------------------------------------------ drawing
    def _refresh(self) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=self.tally.completed)

    def _tick(self) -> None:
        """Not a terminal: a line every ``every_s`` seconds when something moved, else every minute.

        A timer rather than the events themselves, because a round's events (and a batch's
        records) arrive in bursts: a line in the middle of one would show half of it.
        """
        last_state = (0, 0)
        last_line = time.perf_counter()
        while not self._stop.wait(self.every_s):
            state = (self.tally.done, self.tally.tokens)
            now = time.perf_counter()
            if state != last_state or now - last_line >= 6 * self.every_s:
                self._say(self._line())
                last_state, last_line = state, now

    def _count(self) -> str:
        return f"{self.tally.done}/{self.tally.total}"

    def _eta(self, elapsed: float) -> float | None:
        """Seconds left at the average pace since the start (``None`` before the first round)."""
        completed = self.tally.completed
        if completed <= 0:
            return None
        return elapsed * (self.tally.total - completed) / completed

    def _detail(self) -> str:
        """``3/12  840 tok  22.1 tok/s  round 5  0:00:38  eta 0:01:10`` (drawn on a terminal)."""
        elapsed = time.perf_counter() - self.started
        tokens, rnd, eta = self.tally.tokens, self.tally.round, self._eta(elapsed)
        parts = [self._count(), f"{tokens} tok", f"{tokens / max(elapsed, 1e-9):.1f} tok/s"]
        if rnd:
            parts.append(f"round {rnd}")
        parts += [_clock(elapsed), f"eta {_clock(eta)}"]
        return "  ".join(parts)

    def _line(self) -> str:
        """``run: 3/12 rows done, 840 tokens written (22.1 tok/s), 38 s, about 70 s left`` (logs)."""
        elapsed = time.perf_counter() - self.started
        failed = f" ({self.tally.failed} failed)" if self.tally.failed else ""
        tokens, eta = self.tally.tokens, self._eta(elapsed)
        left = f", about {eta:.0f} s left" if eta is not None and self.tally.done < self.tally.total else ""
        return (f"run: {self._count()} rows done{failed}, {tokens} tokens written "
                f"({tokens / max(elapsed, 1e-9):.1f} tok/s), {elapsed:.0f} s{left}")

    def _say(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)


def _clock(seconds: float | None) -> str:
    """``0:01:10``, or ``-:--:--`` when unknown (as rich's own columns show it)."""
    if seconds is None:
        return "-:--:--"
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
