"""``ensemble bench``: does the ensemble beat its members, and at what cost?

Runs the recipe and each member alone (the ``single`` aggregator, same generator config and
generation settings) on the same problems, in one process with every model loaded once, then grades
all of them and prints members, ensemble and oracle side by side, the lift over the best member
with an exact McNemar p-value, cost relative to the best member, and who wrote the ensemble's text.

Order of work, cheapest failure first: recipe (and every member recipe) validated, input read and
output folder checked before any model loads. The output folder (default
``<input>.<recipe>.bench``) receives one records file per system as the run goes (``ensemble eval``
can re-grade any of them), then ``bench.json`` (the ``--format json`` document), ``report.html``
and ``report.png``. Progress goes to stderr; stdout carries only the result. An interrupted bench
continues where it stopped with ``--resume`` (see ``evaluation.resume``): it says the command.
``bench.json`` also records the command that reproduces the bench (``command``, see
``command_line``) and the arguments given (``arguments``).
``--ray [ADDRESS]`` runs the batches on a pool of Ray workers (``distributed.ray_bench``), each
holding every system; records, resume and the report are the same. The work is ``api.bench.run_bench``,
the function behind ``ensemble_cli.bench(...)``: this module parses options and prints.

``ensemble bench`` is a group whose default command is ``run``: ``ensemble bench RECIPE ...`` is
``ensemble bench run RECIPE ...``, so the established spelling keeps working while ``bench plot``
and ``bench summary`` (``bench_folders``) read finished bench folders back. Only a first argument
that is exactly a subcommand's name is taken as one (a recipe file named ``plot`` is ``./plot``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from ..console.resume_hint import resume_command
from ..console.run_display import stderr_console
from ..io.readers import FieldMap
from . import bench_folders
from .command_line import command_line, given_arguments
from .deterministic_flag import DeterministicFlag, with_deterministic
from .eval_format import OutputFormat, emit
from .ray_flags import RayCpusFlag, RayFlag, RayGpusFlag, RayRetriesFlag, RayWorkersFlag, ray_options

DEFAULT_COMMAND = "run"


class _BenchGroup(TyperGroup):
    """``ensemble bench ARGS`` means ``ensemble bench run ARGS`` unless ARGS starts with a subcommand."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_BenchGroup,
    no_args_is_help=True,
    help="Does the ensemble beat its members, and at what cost? `ensemble bench RECIPE ...` runs a bench "
    "(short for `ensemble bench run RECIPE ...`); `plot`, `summary` and `versus` compare finished bench folders.",
)
_LEAVE_OUT = ("resume", "overwrite", "baselines", "fmt")  #: not part of what reproduces the numbers


@app.command(DEFAULT_COMMAND)
def bench(
    ctx: typer.Context,
    recipe: Annotated[str, typer.Argument(help="Recipe YAML file.", show_default=False)],
    input: Annotated[
        str | None, typer.Option("--input", "-i", help="JSON/JSONL file, or a folder of them (one per subject).")
    ] = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="Packaged dataset: gsm8k or aime2025 (extra 'data').")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N problems (after --offset).")] = None,
    offset: Annotated[
        int, typer.Option(min=0, help="Skip the first N problems (e.g. a tuning slice apart from the reported one).")
    ] = 0,
    per_subject: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Only the first N problems of each subject (each file of an --input folder), before "
            "--offset/--limit: e.g. the first 15 of each MATH subject.",
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Examples per pipeline batch.")] = 8,
    output_dir: Annotated[
        str | None,
        typer.Option("--output-dir", "-o", help="Folder for records and reports. [default: <input>.<recipe>.bench]"),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier bench in the folder.")] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue an interrupted bench in the folder: keep each system's finished batches, run the rest.",
        ),
    ] = False,
    baselines: Annotated[
        str | None,
        typer.Option(
            help="Earlier bench folder: take a member's records and time from it instead of running it again, "
            "when it is provably the same run (generator, generation settings, problems, batches).",
        ),
    ] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output on stdout.")] = OutputFormat.table,
    report: Annotated[str | None, typer.Option(help="HTML report path. [default: <output-dir>/report.html]")] = None,
    plot: Annotated[str | None, typer.Option(help="PNG figure path. [default: <output-dir>/report.png]")] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Override a recipe value, e.g. generation.max_tokens=64."),
    ] = None,
    member_overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--member-set",
            metavar="KEY=VALUE",
            help="Override a value in the members' baseline runs only, e.g. generation.temperature=0 "
            "(judge a sampling ensemble against each member's greedy answer).",
        ),
    ] = None,
    deterministic: DeterministicFlag = False,
    prompt_field: Annotated[str | None, typer.Option(help="Input field holding the prompt.")] = None,
    label_field: Annotated[str | None, typer.Option(help="Input field holding the reference answer.")] = None,
    id_field: Annotated[str | None, typer.Option(help="Input field holding the row id.")] = None,
    ray: RayFlag = None,
    ray_workers: RayWorkersFlag = None,
    ray_num_cpus: RayCpusFlag = 1.0,
    ray_num_gpus: RayGpusFlag = None,
    ray_max_retries: RayRetriesFlag = 3,
) -> None:
    """Run a recipe and each member alone on the same problems; compare accuracy and cost."""
    from ..api.bench import run_bench  # the same function as the Python API's bench()

    console = stderr_console()

    def interrupted(out_dir: Path) -> None:
        stopped = f"\ninterrupted: the records so far are in {out_dir}/"
        console.print(stopped, style="yellow", soft_wrap=True, markup=False)
        hint = resume_command(str(out_dir), ("--output-dir", "-o"))
        console.print(f"continue with: {hint}", soft_wrap=True, markup=False)  # one line to copy
        raise typer.Exit(130) from None

    outcome = run_bench(
        recipe, input, dataset=dataset, limit=limit, offset=offset, per_subject=per_subject, batch_size=batch_size,
        output_dir=output_dir, overwrite=overwrite, resume=resume, baselines=baselines, report=report, plot=plot,
        overrides=tuple(with_deterministic(overrides, deterministic)), member_overrides=tuple(member_overrides or ()),
        fields=FieldMap(prompt_field, label_field, id_field),
        command=command_line("ensemble bench", ctx, leave_out=_LEAVE_OUT), arguments=given_arguments(ctx),
        console=console, on_interrupt=interrupted,
        ray=ray_options(ray, ray_workers, ray_num_cpus, ray_num_gpus, ray_max_retries),
    )
    emit(outcome.tables, outcome.document, fmt)
    console.print(f"records and report in {outcome.out_dir}/", soft_wrap=True, markup=False)


app.command("plot")(bench_folders.plot)
app.command("summary")(bench_folders.summary)
app.command("versus")(bench_folders.versus)
