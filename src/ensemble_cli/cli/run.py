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

The work itself is ``api.runs.run_dataset`` (the Python API's ``Ensemble.run`` is the same
function): this module parses the arguments, shows the console display and maps the outcome to
an exit code.

``--ray [ADDRESS]`` runs the batches on a Ray actor pool (``distributed``); reading, resume
skipping, writing and the display stay in this process, so the contract above is unchanged.

Exit codes: 0 every row ok, 1 some rows failed (including input errors a resumed run skipped
because an earlier run already recorded them), 2 usage/recipe/input error, 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from ..console.run_display import stderr_console
from ..errors import UsageError
from ..io.readers import FieldMap
from ..io.writers import STDOUT
from .deterministic_flag import DeterministicFlag, with_deterministic
from .ray_flags import RayCpusFlag, RayFlag, RayGpusFlag, RayRetriesFlag, RayWorkersFlag, ray_options

__all__ = ["run"]


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
    deterministic: DeterministicFlag = False,
    prompt_field: Annotated[str | None, typer.Option(help="Input field holding the prompt.")] = None,
    label_field: Annotated[str | None, typer.Option(help="Input field holding the reference answer.")] = None,
    id_field: Annotated[str | None, typer.Option(help="Input field holding the row id.")] = None,
    messages_field: Annotated[str | None, typer.Option(help="Input field holding chat messages.")] = None,
    ray: RayFlag = None,
    ray_workers: RayWorkersFlag = None,
    ray_num_cpus: RayCpusFlag = 1.0,
    ray_num_gpus: RayGpusFlag = None,
    ray_max_retries: RayRetriesFlag = 3,
) -> None:
    """Run a recipe over a dataset and write one JSON line per example."""
    from ..api.ensemble import Ensemble  # imported late: keeps `ensemble --help` fast
    from ..api.runs import run_dataset
    from ..console.load_status import LoadStatus
    from ..console.run_display import ConsoleRunDisplay

    console = stderr_console()
    if resume and overwrite:
        raise UsageError("--resume and --overwrite contradict each other; pick one")
    if resume and output == STDOUT:
        raise UsageError("--resume needs an output file (--output FILE), not stdout")

    with LoadStatus(console) as status:  # on screen from the first second: nothing looks stuck
        status.start("recipe", f"resolving recipe {recipe}")
        ensemble = Ensemble.from_recipe(recipe, with_deterministic(overrides, deterministic))
        status.finish("recipe")
    if input == STDOUT and sys.stdin.isatty():
        console.print("reading examples from the terminal (one JSON object per line; end with Ctrl-D)")
    try:
        report = run_dataset(
            ensemble, input, output, resume=resume, overwrite=overwrite, limit=limit, batch_size=batch_size,
            concurrency=concurrency, fields=FieldMap(prompt_field, label_field, id_field, messages_field),
            display=ConsoleRunDisplay(console),
            ray=ray_options(ray, ray_workers, ray_num_cpus, ray_num_gpus, ray_max_retries),
        )
    except KeyboardInterrupt:  # the display has said how far it got and how to continue
        raise typer.Exit(130) from None
    except BrokenPipeError:  # `ensemble run ... -o - | head`: the reader left; stop quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        raise typer.Exit(1) from None
    if report.exit_code:
        raise typer.Exit(report.exit_code)
