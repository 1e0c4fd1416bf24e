"""``ensemble recipes validate|show``: check a recipe without loading any model.

Every component is resolved and every ``params`` block validated against its component's Config,
so typos and unknown names surface in a second instead of after minutes of model loading.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
import yaml

from ..errors import EnsembleError, RecipeError
from ..plugins import get_registry
from ..recipe import ResolvedRecipe, load_recipe
from .plugins import warn_plugin_errors

app = typer.Typer(help="Check and inspect recipes (no model is loaded).", no_args_is_help=True)

RecipeArg = Annotated[str, typer.Argument(help="Recipe YAML file.", show_default=False)]
OverridesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", metavar="KEY=VALUE", help="Override a recipe value, e.g. aggregator.params.max_rounds=8."
    ),
]


def _resolve(file: str, overrides: list[str] | None) -> ResolvedRecipe:
    registry = get_registry()
    warn_plugin_errors(registry)
    return load_recipe(file, overrides=tuple(overrides or ()), registry=registry)


@app.command()
def validate(
    file: RecipeArg,
    overrides: OverridesOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON on stdout.")] = False,
) -> None:
    """Resolve every component and validate every parameter; exit 2 listing all problems."""
    if not as_json:
        resolved = _resolve(file, overrides)  # errors go to the CLI boundary: all problems, exit 2
        typer.echo(f"ok: {resolved.name} (hash {resolved.hash})")
        return
    try:
        resolved = _resolve(file, overrides)
    except EnsembleError as err:
        problems = err.problems if isinstance(err, RecipeError) else []
        document = {
            "ok": False,
            "source": file,
            "error": str(err),
            "problems": [{"path": p.path, "message": p.message} for p in problems],
        }
        typer.echo(json.dumps(document, indent=2))
        raise typer.Exit(err.exit_code) from None
    document = {
        "ok": True,
        "source": file,
        "name": resolved.name,
        "hash": resolved.hash,
        "recipe": resolved.as_dict(),
    }
    typer.echo(json.dumps(document, indent=2))


@app.command()
def show(file: RecipeArg, overrides: OverridesOpt = None) -> None:
    """Print the resolved recipe as YAML, with every default filled in."""
    resolved = _resolve(file, overrides)
    typer.echo(f"# {resolved.source} (hash {resolved.hash})")
    typer.echo(yaml.safe_dump(resolved.as_dict(), sort_keys=False, allow_unicode=True).rstrip())
