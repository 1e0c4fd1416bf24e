"""``ensemble ui [RECIPE]``: ``ensemble serve RECIPE --ui`` with the defaults a person at a desk wants.

Without RECIPE it serves the shipped quickstart recipe (``recipes/quickstart.yaml`` of a source
checkout). The URL of the page is printed on stdout as soon as the port is open (a script can read
it); the server's own messages go to stderr as ``serve``'s do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError

__all__ = ["ui"]

_QUICKSTART = Path(__file__).resolve().parents[3] / "recipes" / "quickstart.yaml"


def ui(
    recipe: Annotated[
        str | None, typer.Argument(help="Recipe YAML file. [default: the quickstart recipe]", show_default=False)
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    api_key: Annotated[
        str | None, typer.Option(envvar="ENSEMBLE_API_KEY", help="Require this key (the page asks for it once).")
    ] = None,
    votes: Annotated[str | None, typer.Option(help="Append blind side-by-side votes to this JSONL file.")] = None,
    bench: Annotated[
        list[str] | None, typer.Option(help="A bench folder (ensemble bench --output-dir) to view; repeatable.")
    ] = None,
    recipes: Annotated[
        str | None, typer.Option(help="A folder of recipes the playground may run (those whose models are loaded).")
    ] = None,
    max_tokens_cap: Annotated[
        int | None, typer.Option(min=1, help="Refuse requests asking for more max_tokens (400).")
    ] = None,
) -> None:
    """Start the web UI (ensemble serve RECIPE --ui) and print its URL."""
    from .serve import start

    if recipe is None:
        if not _QUICKSTART.is_file():
            raise UsageError("give a recipe: ensemble ui RECIPE (no quickstart recipe next to this install)")
        recipe = str(_QUICKSTART)
    typer.echo(f"http://{host}:{port}/ui")
    start(recipe, host=host, port=port, api_key=api_key, max_batch=8, max_queue=256,
          max_tokens_cap=max_tokens_cap, overrides=None, ui=True, votes=votes, bench=bench, recipes=recipes)
