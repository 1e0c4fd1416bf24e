"""``ensemble run``'s contract over a dataset, as one function both the CLI and Python call.

``run_dataset`` is the single path from an ``Ensemble`` and an input file to an output file:
read the rows (``--limit`` counted before resume skipping), refuse to clobber an existing output
unless resuming or overwriting, skip ids already done, load the models, run every pending row
through ``BatchRunner`` (crash-safe: one flushed JSON line per example; a bad row becomes an
error record, never a gap) and report. The terminal display is a ``RunDisplay``: the CLI passes
the console one (``console.run_display.ConsoleRunDisplay``), Python gets the same one with
``progress=True`` and the silent base class with ``progress=False``; nothing here prints.

Exit semantics as Python values and exceptions: usage, recipe and input problems raise their
typed errors (exit 2 on the CLI); the returned ``RunReport.exit_code`` is 0 when every row is ok
and 1 when some failed (including input errors an earlier run already recorded); Ctrl-C raises
``KeyboardInterrupt`` after the writer has flushed what was done (the CLI exits 130).
"""

from __future__ import annotations

import time
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from ..batch import BatchRunner, Pending, RunStats, pending
from ..console.base import RunDisplay, RunReport
from ..errors import UsageError
from ..io.readers import FieldMap, read_examples
from ..io.writers import STDOUT, OutputState, ResultWriter, scan_output

if TYPE_CHECKING:
    from ..distributed.options import RayOptions
    from .ensemble import Ensemble




def default_output(input_path: str, recipe_name: str) -> str:
    """``data/gsm8k.jsonl`` + recipe ``quickstart`` → ``gsm8k.quickstart.jsonl`` (in the cwd)."""
    stem = "stdin" if input_path == STDOUT else Path(input_path).stem or "input"
    return f"{stem}.{recipe_name}.jsonl"


def run_dataset(
    ensemble: Ensemble,
    input: str | Path,
    output: str | Path | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    limit: int | None = None,
    batch_size: int = 8,
    concurrency: int = 1,
    fields: FieldMap | None = None,
    display: RunDisplay | None = None,
    progress: bool = False,
    ray: RayOptions | None = None,
) -> RunReport:
    """Run ``ensemble`` over every row of ``input`` into ``output`` (default
    ``<input stem>.<recipe>.jsonl``; ``"-"`` is stdout). ``display`` defaults to the console one
    when ``progress`` is true, else to none. ``ray`` runs the batches on a Ray actor pool instead of
    in this process (``distributed.ray_runner``); everything else stays here."""
    if display is None:
        display = _console_display() if progress else RunDisplay()
    source, out = str(input), None if output is None else str(output)
    if resume and overwrite:
        raise UsageError("--resume and --overwrite contradict each other; pick one")
    if resume and out == STDOUT:
        raise UsageError("--resume needs an output file (--output FILE), not stdout")
    for name, value in (("batch_size", batch_size), ("concurrency", concurrency), ("limit", limit)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be at least 1, got {value}")
    if ray is not None and concurrency > 1:
        raise UsageError("--concurrency is for a local run; with --ray, raise --ray-workers")
    rows = list(islice(read_examples(source, fields=fields or FieldMap()), limit))
    out = out or default_output(source, ensemble.name)
    if STDOUT not in (source, out) and Path(out).resolve() == Path(source).resolve():
        raise UsageError(f"--output {out} is the input file; choose another output path")

    plan = pending(rows, _existing_output(out, resume=resume, overwrite=overwrite))
    display.planned(ensemble.resolved, len(plan.todo), len(rows), out)
    report = RunReport(out, RunStats(), plan, len(rows))
    started = time.perf_counter()
    ray_seconds: float | None = None  # --ray: the rows' time (leaving the cluster is not generation)
    writer = ResultWriter(out, resume=resume)
    try:
        if writer.repaired_bytes:
            display.repaired(writer.repaired_bytes, out)
        if not plan.todo:
            display.nothing_to_do(plan.skipped, out)
        else:
            max_tokens = ensemble.resolved.generation.max_tokens
            if ray is not None:
                report.stats, report.load_seconds, ray_seconds = _run_on_ray(
                    ensemble, ray, display, writer, plan, batch_size, max_tokens
                )
            else:
                report.load_seconds = _load(ensemble, display)
                with display.running(len(plan.todo), max_tokens) as (on_record, on_progress):
                    runner = BatchRunner(
                        ensemble.pipeline, writer, recipe_hash=ensemble.recipe_hash,
                        recipe=ensemble.resolved.as_dict(), batch_size=batch_size, on_record=on_record,
                        on_progress=on_progress, concurrency=concurrency,
                    )
                    report.stats = runner.run(plan.todo)
    except KeyboardInterrupt:
        writer.close()
        display.interrupted(writer.written, out)
        raise
    except BrokenPipeError:
        display.reader_left(writer.written)
        raise
    finally:
        writer.close()
    report.seconds = ray_seconds if ray_seconds is not None else time.perf_counter() - started - report.load_seconds
    display.summary(report)
    return report


def _load(ensemble: Ensemble, display: RunDisplay) -> float:
    """Build the pipeline and load every member under the display's status; the seconds it took."""
    t0 = time.perf_counter()
    with display.loading() as status:
        status.start("build", "building the pipeline")
        _ = ensemble.pipeline
        status.finish("build")
        ensemble.load(on_event=status.on_event)
    seconds = time.perf_counter() - t0
    display.loaded(seconds)
    return seconds


def _run_on_ray(
    ensemble: Ensemble, options: RayOptions, display: RunDisplay, writer: ResultWriter, plan: Pending,
    batch_size: int, max_tokens: int,
) -> tuple[RunStats, float, float]:
    """The pending rows on a Ray actor pool: the workers load under the display's status, then the
    records come back here to ``writer``. The pool is stopped however the run ends. Returns the
    stats, the seconds starting the pool took and the seconds the rows took (stopping it excluded)."""
    from ..core.types import Example
    from ..distributed.ray_runner import RayBatchRunner, timed_start

    batches = -(-sum(isinstance(item, Example) for item in plan.todo) // batch_size)
    with display.loading() as status:
        pool, load_seconds = timed_start([ensemble.resolved], options, status, max(1, batches))
    try:
        display.loaded(load_seconds)
        t0 = time.perf_counter()
        with display.running(len(plan.todo), max_tokens) as (on_record, _):
            runner = RayBatchRunner(
                pool, writer, recipe_hash=ensemble.recipe_hash, recipe=ensemble.resolved.as_dict(),
                batch_size=batch_size, on_record=on_record, on_lost=display.worker_lost,
            )
            stats = runner.run(plan.todo)
        return stats, load_seconds, time.perf_counter() - t0
    finally:
        pool.close()


def _existing_output(out: str, *, resume: bool, overwrite: bool) -> OutputState | None:
    """What ``--resume`` continues from (``None``: not resuming); refuse to clobber silently."""
    if out == STDOUT:
        return None
    existing = scan_output(out)
    if resume:
        return existing
    if (existing.records or existing.bad_lines or existing.partial_tail) and not overwrite:
        raise UsageError(
            f"output file {out} already exists ({existing.records} records); "
            "pass --resume to continue it or --overwrite to replace it"
        )
    return None


def _console_display() -> RunDisplay:
    from ..console.run_display import ConsoleRunDisplay, stderr_console

    return ConsoleRunDisplay(stderr_console(), resume_hint=False)
