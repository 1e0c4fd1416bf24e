"""The run display's contract, and what a run reports: the silent base both the API and the console build on.

``api.runs.run_dataset`` drives a ``RunDisplay`` and returns a ``RunReport``; the console display
(``console.run_display``) fills the hooks in. They live here, below both, so neither imports the
other: the Python API shows the console display only when asked (``progress=True``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..batch import Pending, RunStats

if TYPE_CHECKING:
    from ..core.events import LoadEvent, RowProgress
    from ..recipe import ResolvedRecipe


@dataclass
class RunReport:
    """What a run did: counts, where the records are, and how long loading and generating took."""

    output: str
    stats: RunStats
    plan: Pending
    rows: int
    seconds: float = 0.0  #: generation wall time (model loading excluded)
    load_seconds: float = 0.0

    @property
    def ok(self) -> int:
        return self.stats.ok

    @property
    def errors(self) -> int:
        """Rows that failed in this run (error records written)."""
        return self.stats.errors

    @property
    def skipped(self) -> int:
        """Rows an earlier run had already done (``resume``)."""
        return self.plan.skipped

    @property
    def exit_code(self) -> int:
        """``ensemble run``'s exit code: 0 every row ok, 1 some rows failed."""
        return 1 if self.stats.errors or self.plan.known_errors else 0


class _NoStatus:
    """The load-status steps, unshown."""

    def start(self, key: str, text: str) -> None: ...

    def finish(self, key: str, text: str | None = None) -> None: ...

    def on_event(self, event: LoadEvent) -> None: ...


class RunDisplay:
    """What a run shows while it works; this base shows nothing (``progress=False``)."""

    def planned(self, resolved: ResolvedRecipe, todo: int, rows: int, output: str) -> None:
        """The run's plan is known (before anything loads)."""

    def repaired(self, nbytes: int, output: str) -> None:
        """An unfinished last line left by an interrupted run was cut from ``output``."""

    def nothing_to_do(self, skipped: int, output: str) -> None:
        """Every row is already in ``output``."""

    @contextlib.contextmanager
    def loading(self) -> Iterator[Any]:
        """A status with ``start(key, text)``, ``finish(key)`` and ``on_event(event)`` while models load."""
        yield _NoStatus()

    def loaded(self, seconds: float) -> None:
        """The models are ready."""

    @contextlib.contextmanager
    def running(self, total: int, max_tokens: int) -> Iterator[tuple[RecordHook | None, ProgressHook | None]]:
        """``(on_record, on_progress)`` hooks for the rows being run (``None``: not listened to)."""
        yield None, None

    def worker_lost(self, message: str) -> None:
        """``--ray``: a worker died under a batch, which is being sent again."""

    def interrupted(self, written: int, output: str) -> None:
        """Ctrl-C: ``written`` records are safe in ``output``."""

    def reader_left(self, written: int) -> None:
        """stdout's reader went away (``ensemble run -o - | head``)."""

    def summary(self, report: RunReport) -> None:
        """The run is over."""


RecordHook = Callable[[dict[str, Any]], None]
ProgressHook = Callable[[str, "RowProgress"], None]
