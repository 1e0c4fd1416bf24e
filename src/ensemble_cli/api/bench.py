"""``ensemble_cli.bench(...)``: ``ensemble bench RECIPE ... --format json`` from Python.

``run_bench`` is the one implementation: ``ensemble bench`` parses its options, calls it with a
stderr console, and prints the tables; Python gets the document (also written to
``<output_dir>/bench.json``). See ``cli/bench.py`` for what a bench does and in which order (every
check before any model loads), and ``evaluation.bench`` for the systems.

The document's ``command`` is the line that reproduces the numbers. The CLI rebuilds it from what
click parsed; from Python it is rebuilt from the arguments given (those not at their default, in
the CLI's option order and spelling), so the same bench says the same command either way.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..io.readers import FieldMap, RowError

if TYPE_CHECKING:
    from rich.console import Console

    from ..distributed.options import RayOptions
    from ..evaluation.tables import Table

#: bench options in the CLI's order: (Python name, CLI flag, default); ``None`` flag: not in ``command``
OPTIONS: tuple[tuple[str, str | None, Any], ...] = (
    ("input", "--input", None),
    ("dataset", "--dataset", None),
    ("limit", "--limit", None),
    ("offset", "--offset", 0),
    ("per_subject", "--per-subject", None),
    ("batch_size", "--batch-size", 8),
    ("output_dir", "--output-dir", None),
    ("overwrite", None, False),
    ("resume", None, False),
    ("baselines", None, None),
    ("report", "--report", None),
    ("plot", "--plot", None),
    ("overrides", "--set", None),
    ("member_overrides", "--member-set", None),
    ("prompt_field", "--prompt-field", None),
    ("label_field", "--label-field", None),
    ("id_field", "--id-field", None),
)


@dataclass
class BenchOutcome:
    """What a bench produced: the ``--format json`` document, the tables the CLI prints, the folder."""

    document: dict[str, Any]
    tables: list[Table]
    out_dir: Path


def bench(
    recipe: str | Path,
    input: str | Path | None = None,
    *,
    dataset: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    per_subject: int | None = None,
    batch_size: int = 8,
    output_dir: str | Path | None = None,
    overwrite: bool = False,
    resume: bool = False,
    baselines: str | Path | None = None,
    report: str | Path | None = None,
    plot: str | Path | None = None,
    overrides: Sequence[str] | None = None,
    member_overrides: Sequence[str] | None = None,
    prompt_field: str | None = None,
    label_field: str | None = None,
    id_field: str | None = None,
    progress: bool = True,
    ray: RayOptions | None = None,
) -> dict[str, Any]:
    """Run ``recipe`` and each member alone on the same problems (``input`` file/folder or a packaged
    ``dataset``), grade them, and return the ``ensemble bench --format json`` document: members,
    ensemble, oracle, lift over the best member with McNemar's p, cost ratios, attribution shares.
    ``per_subject`` keeps the first N problems of each subject (a folder's files) before ``offset``
    and ``limit``. Records, ``bench.json``, ``report.html`` and ``report.png`` go to ``output_dir`` (default
    ``<input>.<recipe>.bench``). ``progress`` shows the CLI's status lines and bars on stderr.
    ``ray`` (``ensemble_cli.distributed.RayOptions``) runs the batches on a Ray actor pool, as ``--ray``.
    Problems with the arguments raise ``UsageError``/``RecipeError`` before any model loads."""
    given = {
        "recipe": str(recipe), "input": input, "dataset": dataset, "limit": limit, "offset": offset,
        "per_subject": per_subject, "batch_size": batch_size, "output_dir": output_dir, "overwrite": overwrite,
        "resume": resume,
        "baselines": baselines, "report": report, "plot": plot,
        "overrides": list(overrides) if overrides else None,
        "member_overrides": list(member_overrides) if member_overrides else None,
        "prompt_field": prompt_field, "label_field": label_field, "id_field": id_field,
    }
    command, arguments = python_command(given)
    return run_bench(
        str(recipe), None if input is None else str(input), dataset=dataset, limit=limit, offset=offset,
        per_subject=per_subject, batch_size=batch_size, output_dir=None if output_dir is None else str(output_dir),
        overwrite=overwrite, resume=resume, baselines=None if baselines is None else str(baselines),
        report=None if report is None else str(report), plot=None if plot is None else str(plot),
        overrides=tuple(overrides or ()), member_overrides=tuple(member_overrides or ()),
        fields=FieldMap(prompt_field, label_field, id_field), command=command, arguments=arguments,
        console=_console(progress), ray=ray,
    ).document


def python_command(given: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The ``ensemble bench`` line and the ``arguments`` record for a Python call's arguments."""
    words = ["ensemble", "bench", given["recipe"]]
    arguments: dict[str, Any] = {"recipe": given["recipe"]}
    for name, flag, default in OPTIONS:
        value = given[name]
        if value == default or value is None:
            continue
        values = value if isinstance(value, list) else [value]
        arguments[name] = [str(v) for v in values] if isinstance(value, list) else _json(value)
        if flag is not None:
            for v in values:
                words += [flag, str(v)]
    return " ".join(shlex.quote(w) for w in words), arguments


def _json(value: Any) -> Any:
    return value if isinstance(value, bool | int | float | str) else str(value)


def _console(progress: bool) -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, quiet=not progress)


def run_bench(
    recipe: str,
    input: str | None,
    *,
    dataset: str | None,
    limit: int | None,
    offset: int,
    batch_size: int,
    output_dir: str | None,
    per_subject: int | None = None,
    overwrite: bool,
    resume: bool,
    baselines: str | None,
    report: str | None,
    plot: str | None,
    overrides: Sequence[str],
    member_overrides: Sequence[str],
    fields: FieldMap,
    command: str,
    arguments: dict[str, Any],
    console: Console,
    on_interrupt: Callable[[Path], None] | None = None,
    ray: RayOptions | None = None,
) -> BenchOutcome:
    """The bench (see the module docstring); ``on_interrupt(out_dir)`` is told of a Ctrl-C before
    ``KeyboardInterrupt`` goes on (the CLI prints the resume command there)."""
    from ..evaluation.bench import systems_for
    from ..evaluation.compare import compare
    from ..evaluation.datasets import load_dataset, load_input, select_rows
    from ..evaluation.report import bench_figure, write_html, write_png
    from ..evaluation.views import bench_tables
    from ..recipe import load_recipe

    if (input is None) == (dataset is None):
        raise UsageError("give exactly one of --input FILE and --dataset NAME")
    if resume and overwrite:
        raise UsageError("--resume and --overwrite contradict each other; pick one")
    if batch_size < 1 or offset < 0 or any(n is not None and n < 1 for n in (limit, per_subject)):
        raise UsageError("batch_size, limit and per_subject must be at least 1, offset at least 0")
    resolved = load_recipe(recipe, overrides=tuple(overrides))
    rows = load_dataset(dataset, fields) if dataset else load_input(input, fields)  # type: ignore[arg-type]
    rows = select_rows(rows, offset=offset, limit=limit, per_subject=per_subject)
    if not rows:
        raise UsageError(f"no problems left after --offset {offset}")
    bad = sum(isinstance(r, RowError) for r in rows)
    if bad == len(rows):
        raise UsageError("no usable problems in the input")
    stem = dataset or ("stdin" if input == "-" else Path(str(input)).stem or "input")
    out_dir = Path(output_dir or f"{stem}.{resolved.name}.bench")
    systems = systems_for(resolved, out_dir, member_overrides=tuple(member_overrides))
    if resume:
        _resume(systems, rows, batch_size, console)
    else:
        _check_output(out_dir, [s.path for s in systems], overwrite)
    if baselines is not None:
        unfinished = [s for s in systems[:-1] if len(s.records) < len(rows)]
        _reuse_baselines(unfinished, rows, batch_size, Path(baselines), console)

    from ..console.load_status import LoadStatus

    runner = _runner(systems, ray, console)
    try:
        with LoadStatus(console) as status:  # converting / loading each model, with sizes and times
            if ray is None:
                load_s = runner.load(on_event=status.on_event)
            else:  # every worker loads every model once
                load_s = runner.load(status, batches=-(-len(rows) // batch_size) * len(systems))
        console.print(f"models loaded once in {load_s:.1f} s; {len(systems)} systems × {len(rows)} problems")
        if bad:
            console.print(f"{bad} input rows are unusable (error records, not graded)", style="yellow")
        _run(runner, rows, batch_size, console)
    except KeyboardInterrupt:
        if on_interrupt is not None:
            on_interrupt(out_dir)
        raise
    finally:
        if ray is not None:
            runner.close()

    ensemble = systems[-1]
    members = {s.name: s.records for s in systems[:-1]}
    result = compare(members, ensemble.records, {s.name: s.seconds for s in systems}, ensemble_name=ensemble.name)
    tables = bench_tables(result, resolved.name)
    reused = {s.name: str(s.reused) for s in systems if s.reused is not None}
    if reused:
        taken = {s.name: "" if s.reused_all else f" (its first {s.reused_count} problems)" for s in systems
                 if s.reused is not None}
        tables[0].notes.append(
            "not re-run (same run found by --baselines; records and time from then): "
            + "; ".join(f"{name} from {path}{taken[name]}" for name, path in reused.items())
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
        "command": command,
        "arguments": arguments,
        "source": dataset or input,
        "problems": len(rows),
        "load_seconds": round(load_s, 3),
        **result.to_dict(),
        "files": {s.name: str(s.path) for s in systems},
        "reused_baselines": reused,
        "reused_problems": {s.name: s.reused_count for s in systems if s.reused is not None},
        "resumed": resumed,
        "member_overrides": list(member_overrides),
    }
    (out_dir / "bench.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    png = bench_figure(result, resolved.name)
    write_png(plot or out_dir / "report.png", png)
    write_html(report or out_dir / "report.html", f"ensemble bench: {resolved.name}", tables, png)
    return BenchOutcome(document, tables, out_dir)


def _runner(systems, ray: RayOptions | None, console: Console):  # noqa: ANN001, ANN202 - bench types imported late
    """The bench's engine: every model in this process, or (``ray``) a pool of Ray workers."""
    if ray is None:
        from ..evaluation.bench import Bench

        return Bench(systems)
    from ..distributed.ray_bench import RayBench

    return RayBench(systems, ray, on_lost=lambda message: console.print(message, style="yellow", markup=False))


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
        found = find_baseline(system.resolved.as_dict(), rows, batch_size, folder, have=len(system.records))
        if found is None and system.records:
            said = f"{system.name}: {folder} holds no more of its run than the {len(system.records)} problems resumed"
            console.print(said, soft_wrap=True, markup=False)
        elif found is None:
            console.print(f"{system.name}: no identical run in {folder}; running it", markup=False)
        elif found.complete:
            system.reuse(found)
            console.print(f"{system.name}: reusing {found.path} ({found.seconds:.1f} s generating)", markup=False)
        else:
            system.reuse(found)
            said = (f"{system.name}: reusing the first {len(found.records)} of {len(rows)} problems from {found.path} "
                    f"({found.seconds:.1f} s generating); running the rest")
            console.print(said, soft_wrap=True, markup=False)


def _run(runner, rows, batch_size: int, console) -> None:  # noqa: ANN001 - rich/bench types imported late
    """One progress bar per system, each with its own generation time (not time since the start).

    When stderr is not a terminal (a bench under ``nohup`` or CI, hours long) rich draws nothing
    until the end, so each finished batch is said on a plain line instead.
    """
    if not console.is_terminal:
        done = dict.fromkeys((s.name for s in runner.systems), 0)  # on_batch counts kept records too

        def say(system, n: int) -> None:  # noqa: ANN001
            done[system.name] += n
            line = f"{system.name}: {done[system.name]}/{len(rows)} problems, {system.seconds:.1f} s generating"
            console.print(line, soft_wrap=True, markup=False, highlight=False)

        runner.run(rows, batch_size, on_batch=say)
        return
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
