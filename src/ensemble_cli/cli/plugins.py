"""``ensemble plugins``: which plugins are installed, what they register, and which failed.

A plugin that failed to import or to register is listed with its error rather than crashing the
CLI, so this is the command to run when a component name is unexpectedly unknown.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..plugins import get_registry
from ..registry import Registry

app = typer.Typer()


def warn_plugin_errors(registry: Registry) -> None:
    """One stderr line per broken plugin, so "unknown aggregator" errors are not a mystery."""
    for info in registry.plugins:
        if info.error:
            message = f"warning: plugin {info.name!r} failed: {info.error} (see `ensemble plugins`)"
            typer.echo(message, err=True)


def _components_text(components: dict[str, list[str]]) -> str:
    return "\n".join(f"{kind}: {', '.join(names)}" for kind, names in components.items() if names) or "-"


def _status_text(status: str, detail: str | None) -> str:
    return f"{status}: {detail}" if detail else status


@app.command()
def plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON document, not a table.")] = False,
) -> None:
    """List installed plugins, their components, and any loading errors."""
    registry = get_registry()
    if as_json:
        document = {"plugins": [info.to_dict() for info in registry.plugins]}
        typer.echo(json.dumps(document, indent=2))
        return
    table = Table(title="ensemble plugins")
    for column in ("plugin", "version", "components", "status"):
        table.add_column(column, overflow="fold")
    for info in registry.plugins:
        style = {"error": "red", "disabled": "dim"}.get(info.status, "")
        cells = (
            info.name,
            info.version or "-",
            _components_text(info.components),
            _status_text(info.status, info.error or info.disabled),
        )
        table.add_row(*(Text(cell) for cell in cells), style=style)  # Text: no markup from plugins
    Console(highlight=False).print(table)
