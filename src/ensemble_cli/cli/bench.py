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
``--ray [ADDRESS]`` runs the batches on a pool of Ray workers (``distributed.ray_bench``), each
holding every system; records, resume and the report are the same.
``bench.json`` also records the command that reproduces the bench (``command``, see
``command_line``) and the arguments given (``arguments``).

``ensemble bench`` is a group whose default command is ``run``: ``ensemble bench RECIPE ...`` is
``ensemble bench run RECIPE ...``, so the established spelling keeps working while ``bench plot``
and ``bench summary`` (``bench_folders``) read finished bench folders back. Only a first argument
that is exactly a subcommand's name is taken as one (a recipe file named ``plot`` is ``./plot``).
"""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from ..errors import UsageError
from ..io.readers import FieldMap, RowError
from . import bench_folders
from .command_line import command_line, given_arguments
from .eval_format import OutputFormat, emit
from .ray_flags import RayCpusFlag, RayFlag, RayGpusFlag, RayRetriesFlag, RayWorkersFlag, ray_options
from .resume_hint import resume_command
from .run_display import stderr_console

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
    "(short for `ensemble bench run RECIPE ...`); `plot` and `summary` compare finished bench folders.",
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
    from ..evaluation.bench import systems_for
    from ..evaluation.compare import compare
    from ..evaluation.datasets import load_dataset, load_input
    from ..evaluation.report import bench_figure, write_html, write_png
    from ..evaluation.views import bench_tables
    from ..recipe import load_recipe

    if (input is None) == (dataset is None):
        raise UsageError("give exactly one of --input FILE and --dataset NAME")
    if resume and overwrite:
        raise UsageError("--resume and --overwrite contradict each other; pick one")
    console = stderr_console()
    resolved = load_recipe(recipe, overrides=tuple(overrides or ()))
    fields = FieldMap(prompt_field, label_field, id_field)
    rows = load_dataset(dataset, fields) if dataset else load_input(input, fields)  # type: ignore[arg-type]
    rows = list(islice(rows, offset, None if limit is None else offset + limit))
    if not rows:
        raise UsageError(f"no problems left after --offset {offset}")
    bad = sum(isinstance(r, RowError) for r in rows)
    if bad == len(rows):
        raise UsageError("no usable problems in the input")
    stem = dataset or ("stdin" if input == "-" else Path(str(input)).stem or "input")
    out_dir = Path(output_dir or f"{stem}.{resolved.name}.bench")
    systems = systems_for(resolved, out_dir, member_overrides=tuple(member_overrides or ()))
    if resume:
        _resume(systems, rows, batch_size, console)
    else:
        _check_output(out_dir, [s.path for s in systems], overwrite)
    if baselines is not None:
        unfinished = [s for s in systems[:-1] if len(s.records) < len(rows)]
        _reuse_baselines(unfinished, rows, batch_size, Path(baselines), console)

    from .load_status import LoadStatus

    cluster = ray_options(ray, ray_workers, ray_num_cpus, ray_num_gpus, ray_max_retries)
    runner = _runner(systems, cluster, console)
    try:
        with LoadStatus(console) as status:  # converting / loading each model, with sizes and times
            if cluster is None:
                load_s = runner.load(on_event=status.on_event)
            else:  # every worker loads every model once
                load_s = runner.load(status, batches=-(-len(rows) // batch_size) * len(systems))
        console.print(f"models loaded once in {load_s:.1f} s; {len(systems)} systems × {len(rows)} problems")
        if bad:
            console.print(f"{bad} input rows are unusable (error records, not graded)", style="yellow")
        _run(runner, rows, batch_size, console)
    except KeyboardInterrupt:
        stopped = f"\ninterrupted: the records so far are in {out_dir}/"
        console.print(stopped, style="yellow", soft_wrap=True, markup=False)
        hint = resume_command(str(out_dir), ("--output-dir", "-o"))
        console.print(f"continue with: {hint}", soft_wrap=True, markup=False)  # one line to copy
        raise typer.Exit(130) from None
    finally:
        if cluster is not None:
            runner.close()

    ensemble = systems[-1]
    members = {s.name: s.records for s in systems[:-1]}
    result = compare(members, ensemble.records, {s.name: s.seconds for s in systems}, ensemble_name=ensemble.name)
    tables = bench_tables(result, resolved.name)
    reused = {s.name: str(s.reused) for s in systems if s.reused is not None}
    if reused:
        tables[0].notes.append(
            "not re-run (same run found by --baselines; records and time from then): "
            + "; ".join(f"{name} from {path}" for name, path in reused.items())
        )
    resumed = {s.name: s.resumed for s in systems if s.resumed}
    if resumed:
        tables[0].notes.append(
            "resumed (records and time of the first problems from the interrupted run): "
            + "; ".join(f"{name} {n}" for name, n in resumed.items())
        )
    document = {
        "recipe": resolved.name,
        "recipe_hash": resolved.hash,
        "command": command_line("ensemble bench", ctx, leave_out=_LEAVE_OUT),
        "arguments": given_arguments(ctx),
        "source": dataset or input,
        "problems": len(rows),
        "load_seconds": round(load_s, 3),
        **result.to_dict(),
        "files": {s.name: str(s.path) for s in systems},
        "reused_baselines": reused,
        "resumed": resumed,
        "member_overrides": list(member_overrides or ()),
    }
    (out_dir / "bench.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    png = bench_figure(result, resolved.name)
    write_png(plot or out_dir / "report.png", png)
    write_html(report or out_dir / "report.html", f"ensemble bench: {resolved.name}", tables, png)
    emit(tables, document, fmt)
    console.print(f"records and report in {out_dir}/", soft_wrap=True, markup=False)


app.command("plot")(bench_folders.plot)
app.command("summary")(bench_folders.summary)


def _runner(systems, cluster, console):  # noqa: ANN001, ANN202 - bench types imported late
    """The bench's engine: every model in this process, or (``--ray``) a pool of Ray workers."""
    if cluster is None:
        from ..evaluation.bench import Bench

        return Bench(systems)
    from ..distributed.ray_bench import RayBench

    return RayBench(systems, cluster, on_lost=lambda message: console.print(message, style="yellow", markup=False))


def _check_output(out_dir: Path, files: list[Path], overwrite: bool) -> None:
    """Refuse to mix two benches in one folder unless ``--overwrite``."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--output-dir {out_dir} is a file")
    existing = [f.name for f in [*files, out_dir / "bench.json"] if f.exists()]
    if existing and not overwrite:
        raise UsageError(
            f"{out_dir} already holds a bench ({', '.join(existing)}); pass --overwrite or choose --output-dir"
        )


def _resume(systems, rows, batch_size: int, console) -> None:  # noqa: ANN001 - bench types imported late
    """Take each system's finished batches from its file in the folder; say what each kept."""
    from ..evaluation.resume import resume_point

    for system in systems:
        point = resume_point(system.path, system.resolved.as_dict(), rows, batch_size)
        if point is None:
            continue
        system.resume(point)
        n = point.dropped
        cut = f" ({n} record{'s' * (n != 1)} of an unfinished or failed batch run again)" if n else ""
        said = f"{system.name}: resuming after {len(point.records)} of {len(rows)} problems{cut}"
        console.print(said, soft_wrap=True, markup=False)


def _reuse_baselines(members, rows, batch_size: int, folder: Path, console) -> None:  # noqa: ANN001
    """Mark each member whose identical run ``folder`` holds; say which were found and which not."""
    from ..evaluation.baselines import find_baseline

    if not folder.is_dir():
        raise UsageError(f"--baselines {folder}: not a folder (give an earlier bench's --output-dir)")
    for system in members:
        found = find_baseline(system.resolved.as_dict(), rows, batch_size, folder)
        if found is None:
            console.print(f"{system.name}: no identical run in {folder}; running it", markup=False)
        else:
            system.reuse(found)
            console.print(f"{system.name}: reusing {found.path} ({found.seconds:.1f} s generating)", markup=False)


def _run(runner, rows, batch_size: int, console) -> None:  # noqa: ANN001 - rich/bench types imported late
    """One progress bar per system, each with its own generation time (not time since the start)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = (
        TextColumn("{task.description:>16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[seconds]:.1f} s generating"),
    )
    with Progress(*columns, console=console) as progress:
        tasks = {s.name: progress.add_task(s.name, total=len(rows), seconds=0.0) for s in runner.systems}

        def advance(system, n: int) -> None:  # noqa: ANN001
            progress.update(tasks[system.name], advance=n, seconds=system.seconds)

        runner.run(rows, batch_size, on_batch=advance)
