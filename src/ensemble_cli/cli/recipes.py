"""``ensemble recipes validate|show|list``: check and list recipes without loading any model.

Every component is resolved and every ``params`` block validated against its component's Config,
so typos and unknown names surface in a second instead of after minutes of model loading.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from ..errors import EnsembleError, RecipeError, UsageError
from ..plugins import get_registry
from ..recipe import ResolvedRecipe, load_recipe, load_recipe_data, validate_recipe
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


@app.command("list")
def list_recipes(
    directory: Annotated[str, typer.Option("--dir", help="Folder of recipe YAML files.")] = "recipes",
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON document, not a table.")] = False,
) -> None:
    """List the recipes in a folder (default ./recipes): file, one-line description, and what a
    recipe requires beyond the CPU (or why it is invalid)."""
    entries = recipe_entries(Path(directory))
    if as_json:
        typer.echo(json.dumps({"directory": directory, "recipes": entries}, indent=2))
        return
    if not entries:
        typer.echo(f"no recipes (*.yaml) in {directory}")
        return
    width = max(len(e["file"]) for e in entries)
    for e in entries:
        line = f"{e['file']:<{width}}  {e['description'] or '(no description)'}"
        if e["requires"]:
            line += f" [requires: {', '.join(e['requires'])}]"
        if e["status"] != "ok":
            line += f" [{e['status']}]"
        typer.echo(line)


def recipe_entries(directory: Path) -> list[dict[str, Any]]:
    """One entry per ``*.yaml`` in ``directory`` (sorted): file, name, description, requires, and
    ``status`` (``ok`` or ``invalid: <first problem>``; recipes are validated, no model loads)."""
    if not directory.is_dir():
        raise UsageError(f"recipe folder not found: {directory}")
    registry = get_registry()
    entries = []
    for path in sorted(directory.glob("*.yaml")):
        entry: dict[str, Any] = {"file": str(path), "name": None, "description": "", "requires": [], "status": "ok"}
        try:
            data = load_recipe_data(path)
            entry["name"] = data.get("name")
            lines = str(data.get("description") or "").strip().splitlines()
            entry["description"] = lines[0] if lines else ""
            requires = data.get("requires") or []
            entry["requires"] = [str(r) for r in requires] if isinstance(requires, list) else [str(requires)]
            validate_recipe(data, registry, source=str(path))
        except RecipeError as err:
            entry["status"] = f"invalid: {err.problems[0] if err.problems else err}"
        except EnsembleError as err:
            entry["status"] = f"invalid: {err}"
        entries.append(entry)
    return entries
