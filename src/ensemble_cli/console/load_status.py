"""The status lines ``ensemble run`` shows before the first example: resolving, converting, loading.

Nothing may look stuck: a first run spends about a minute converting the default models and a few
seconds loading them, and every step of it is on screen from the moment it starts, with sizes
and times once it ends. On a terminal a spinner row per step (with its elapsed time) sits below
the finished lines; when stderr is a file or a pipe there is no spinner and no ``\\r``, only one
plain line when a step starts and one when it ends, so a log reads top to bottom.

The engine reports through ``core.events`` (``Pipeline.load(on_event=...)``); this module only
renders. Used as a context manager (rich allows one live display at a time, so close it before
the run's progress bar starts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.events import Converted, Converting, Loaded, LoadEvent, Loading

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from ..recipe import ResolvedRecipe


class LoadStatus:
    """Status lines for the steps before a run (see the module docstring)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = console.is_terminal and not console.is_dumb_terminal
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._phase: dict[str, str] = {}

    def __enter__(self) -> LoadStatus:
        if self.live:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                console=self.console, transient=True,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        self._tasks.clear()

    # ------------------------------------------------------------------ generic steps
    def start(self, key: str, text: str) -> None:
        """A step begins: a spinner row on a terminal, a plain ``text…`` line otherwise."""
        if self._progress is not None:
            self._end_task(key)
            self._tasks[key] = self._progress.add_task(text, total=None)
        else:
            self.line(f"{text}…")

    def update(self, key: str, text: str) -> None:
        """The step ``key`` moved on (a new phase): the spinner row's text, or a plain line."""
        if self._progress is not None and key in self._tasks:
            self._progress.update(self._tasks[key], description=text)
        elif self._progress is None:
            self.line(f"{text}…")

    def finish(self, key: str, text: str | None = None) -> None:
        """The step ``key`` ended; ``text`` (if any) stays on screen as a finished line."""
        self._end_task(key)
        if text:
            self.line(text)

    def line(self, text: str) -> None:
        """A permanent line (above the spinner rows on a terminal)."""
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def _end_task(self, key: str) -> None:
        task = self._tasks.pop(key, None)
        if task is not None and self._progress is not None:
            self._progress.remove_task(task)

    # ------------------------------------------------------------------ engine events
    def on_event(self, event: LoadEvent) -> None:
        """Render one ``core.events`` load event (pass this to ``Pipeline.load(on_event=...)``)."""
        if isinstance(event, Converting):
            key = f"convert:{event.alias}"
            if event.phase == "starting":
                self.start(key, str(event))
            elif self._phase.get(key) != event.phase:
                self.update(key, str(event))
            self._phase[key] = event.phase
        elif isinstance(event, Converted):
            self.finish(f"convert:{event.alias}", str(event))
        elif isinstance(event, Loading):
            self.start(f"load:{event.member}", str(event))
        elif isinstance(event, Loaded):
            self.finish(f"load:{event.member}", str(event))


def describe_plan(resolved: ResolvedRecipe, todo: int, rows: int, output: str) -> str:
    """``recipe quickstart: smol + gemma, aggregator reward, scorer logprob; 12 of 12 rows to do → out.jsonl``."""
    parts = [" + ".join(m.name for m in resolved.models), f"aggregator {resolved.aggregator.type}"]
    if resolved.scorer is not None:
        parts.append(f"scorer {resolved.scorer.type}")
    target = "stdout" if output == "-" else output
    return f"recipe {resolved.name}: {', '.join(parts)}; {todo} of {rows} rows to do → {target}"
