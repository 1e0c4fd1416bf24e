"""``ensemble run``: run a recipe over a dataset, one JSON line per example, resumable.

Order of work, cheapest failure first: parse the recipe (typos fail before any model loads), open
and read the input, check the output, and only then load models. Every row is accounted for: an
unreadable row or a failing example becomes an error record, never a silent gap.

Choices worth knowing:

- The default output is ``<input stem>.<recipe name>.jsonl`` in the current directory (``stdin``
  as the stem for ``-``), not stdout, so the progress display and the results never mix.
- An existing non-empty output file is only reused with ``--resume`` (append, skip done ids) or
  replaced with ``--overwrite``; otherwise the run refuses, so a rerun can't silently destroy
  hours of results nor mix two runs in one file.
- ``--limit N`` takes the first N rows of the input, counted *before* resume skipping, so
  ``--limit 100 --resume`` finishes the same 100 rows the first run started.

Exit codes: 0 every row ok, 1 some rows failed (including input errors a resumed run skipped
because an earlier run already recorded them), 2 usage/recipe/input error, 130 interrupted.
"""

from __future__ import annotations

import os
import sys
import time
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..batch import BatchRunner, RunStats, pending
from ..errors import UsageError
from ..io.readers import FieldMap, read_examples
from ..io.writers import STDOUT, OutputState, ResultWriter, scan_output
from .resume_hint import resume_command
from .run_display import print_summary, stderr_console

if TYPE_CHECKING:
    from rich.console import Console

    from ..core.types import Example
    from ..io.readers import RowError
    from ..recipe import ResolvedRecipe

__all__ = ["run"]


def default_output(input_path: str, recipe_name: str) -> str:
    """``data/gsm8k.jsonl`` + recipe ``quickstart`` → ``gsm8k.quickstart.jsonl`` (in the cwd)."""
    stem = "stdin" if input_path == STDOUT else Path(input_path).stem or "input"
    return f"{stem}.{recipe_name}.jsonl"


def run(
    recipe: Annotated[str, typer.Argument(help="Recipe YAML file.", show_default=False)],
    input: Annotated[
        str,
        typer.Option("--input", "-i", help="JSON list or JSONL file, or - for stdin.", show_default=False),
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", help="Output JSONL file, or - for stdout. [default: <input>.<recipe>.jsonl]"
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Only the first N rows of the input (before --resume skips).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Examples per pipeline batch.")] = 8,
    concurrency: Annotated[
        int,
        typer.Option(
            min=1, help="Batches in flight at once (for remote members; --batch-size 1 --concurrency N: N examples)."
        ),
    ] = 1,
    resume: Annotated[
        bool, typer.Option("--resume", help="Append to the output, skipping ids it already has.")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")] = False,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set", metavar="KEY=VALUE", help="Override a recipe value, e.g. generation.max_tokens=64."
        ),
    ] = None,
    prompt_field: Annotated[str | None, typer.Option(help="Input field holding the prompt.")] = None,
    label_field: Annotated[str | None, typer.Option(help="Input field holding the reference answer.")] = None,
    id_field: Annotated[str | None, typer.Option(help="Input field holding the row id.")] = None,
    messages_field: Annotated[str | None, typer.Option(help="Input field holding chat messages.")] = None,
) -> None:
    """Run a recipe over a dataset and write one JSON line per example."""
    from ..recipe import load_recipe  # imported late: keeps `ensemble --help` fast
    from .load_status import LoadStatus, describe_plan

    console = stderr_console()
    if resume and overwrite:
        raise UsageError("--resume and --overwrite contradict each other; pick one")
    if resume and output == STDOUT:
        raise UsageError("--resume needs an output file (--output FILE), not stdout")

    with LoadStatus(console) as status:  # on screen from the first second: nothing looks stuck
        status.start("recipe", f"resolving recipe {recipe}")
        resolved = load_recipe(recipe, overrides=tuple(overrides or ()))
        status.finish("recipe")
    if input == STDOUT and sys.stdin.isatty():
        console.print("reading examples from the terminal (one JSON object per line; end with Ctrl-D)")
    fields = FieldMap(prompt_field, label_field, id_field, messages_field)
    rows = list(islice(read_examples(input, fields=fields), limit))
    out = output or default_output(input, resolved.recipe.name)
    if STDOUT not in (input, out) and Path(out).resolve() == Path(input).resolve():
        raise UsageError(f"--output {out} is the input file; choose another output path")

    plan = pending(rows, _existing_output(out, resume=resume, overwrite=overwrite))
    console.print(describe_plan(resolved, len(plan.todo), len(rows), out), markup=False, soft_wrap=True)

    stats = RunStats()
    load_seconds = 0.0
    started = time.perf_counter()
    writer = ResultWriter(out, resume=resume)
    try:
        if writer.repaired_bytes:
            console.print(
                f"removed an unfinished last line ({writer.repaired_bytes} bytes) "
                f"left in {out} by an interrupted run",
                style="yellow",
                markup=False,
            )
        if not plan.todo:
            console.print(f"nothing to do: all {plan.skipped} rows are already in {out}", markup=False)
        else:
            load_seconds, stats = _generate(resolved, plan.todo, writer, batch_size, console, concurrency)
    except KeyboardInterrupt:
        writer.close()
        written = writer.written
        target = "stdout" if out == STDOUT else out
        console.print(f"\ninterrupted: {written} records written to {target}.", style="yellow", markup=False)
        if out != STDOUT:
            console.print(f"continue with: {resume_command(out, ('--output', '-o'))}", soft_wrap=True, markup=False)
        raise typer.Exit(130) from None
    except BrokenPipeError:  # `ensemble run ... -o - | head`: the reader left; stop quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        console.print(f"\noutput closed by the reader after {writer.written} records", markup=False)
        raise typer.Exit(1) from None
    finally:
        writer.close()
    seconds = time.perf_counter() - started - load_seconds
    print_summary(console, stats, plan, seconds=seconds, load_seconds=load_seconds, output=out)
    if stats.errors or plan.known_errors:
        raise typer.Exit(1)


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


def _generate(
    resolved: ResolvedRecipe,
    todo: list[Example | RowError],
    writer: ResultWriter,
    batch_size: int,
    console: Console,
    concurrency: int = 1,
) -> tuple[float, RunStats]:
    """Load the models, then run every pending row with a progress bar; return (load s, stats)."""
    from ..core.pipeline import Pipeline  # heavy imports (torch) only when there is work
    from .load_status import LoadStatus
    from .run_progress import RunProgress

    t0 = time.perf_counter()
    with LoadStatus(console) as status:
        status.start("build", "building the pipeline")
        pipeline = Pipeline(resolved)
        status.finish("build")
        pipeline.load(on_event=status.on_event)
    load_seconds = time.perf_counter() - t0
    console.print(f"models ready in {load_seconds:.1f} s", markup=False)
    with RunProgress(console, total=len(todo), max_tokens=resolved.generation.max_tokens) as progress:
        runner = BatchRunner(
            pipeline,
            writer,
            recipe_hash=resolved.hash,
            recipe=resolved.as_dict(),
            batch_size=batch_size,
            on_record=progress.on_record,
            on_progress=progress.on_progress,
            concurrency=concurrency,
        )
        stats = runner.run(todo)
    return load_seconds, stats
