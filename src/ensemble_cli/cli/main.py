"""The root ``ensemble`` app: mounts one sub-app per file, plugin commands, and the error boundary.

This is the only place where typed ``EnsembleError``s become ``error: ...`` on stderr and an exit
code (``err.exit_code``); everything below raises. The boundary lives in the root click group's
``invoke`` so ``CliRunner(app)`` in tests sees the same messages and codes as the console script.

Each command module may expose ``register(app)``, a Typer ``app`` (a single-command app is mounted
as that command, otherwise as a sub-group), or a function named like the command.
"""

from __future__ import annotations

import copy
import importlib
import sys
from types import ModuleType
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from .. import __version__
from ..errors import ComponentError, EnsembleError, format_traceback
from ..verbosity import is_verbose


def report_error(err: EnsembleError) -> None:
    """``error: <message>`` on stderr (multi-line messages keep their indented detail lines); in
    verbose mode a component's failure is followed by the traceback of what it raised."""
    typer.secho("error:", fg="red", bold=True, err=True, nl=False)
    typer.echo(f" {err}", err=True)
    if isinstance(err, ComponentError) and is_verbose():
        typer.echo(format_traceback(err), err=True)


class _Root(TyperGroup):
    """Root group that turns ``EnsembleError`` into a message and its exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except EnsembleError as err:
            report_error(err)
            raise typer.Exit(err.exit_code) from None


app = typer.Typer(
    name="ensemble",
    cls=_Root,
    help="LLM ensemble inference: run recipes over datasets; inspect recipes, models and plugins.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ensemble-cli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Show third-party progress bars and logs, and tracebacks of errors raised inside components "
            "(same as ENSEMBLE_DEBUG=1).",
        ),
    ] = False,
) -> None:
    """LLM ensemble inference: run recipes over datasets; inspect recipes, models and plugins."""
    if verbose:
        from ..verbosity import set_verbose

        set_verbose(True)


def _import_optional(name: str) -> ModuleType | None:
    """Import a command module; a module that does not exist (yet) is skipped, a broken one warned."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        print(f"warning: cannot load {name}: {exc}", file=sys.stderr)
    except Exception as exc:  # a bug in one command must not take the other commands down
        print(f"warning: cannot load {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
    return None


def mount(root: typer.Typer, module: ModuleType, name: str) -> None:
    """Add a command module to ``root`` under ``name`` (see the module docstring for the shapes)."""
    register = getattr(module, "register", None)
    sub = getattr(module, "app", None)
    if callable(register):
        register(root)
    elif isinstance(sub, typer.Typer):
        single = len(sub.registered_commands) == 1 and not sub.registered_groups
        if single and sub.registered_callback is None:
            command = copy.copy(sub.registered_commands[0])
            command.name = name
            root.registered_commands.append(command)
        else:
            root.add_typer(sub, name=name)
    elif callable(getattr(module, name, None)):
        root.command(name)(getattr(module, name))


for _name in ("run", "serve", "ui", "models", "recipes", "plugins", "calibrate", "eval", "bench", "lm_eval"):
    _module = _import_optional(f"{__package__}.{_name}")
    if _module is not None:
        mount(app, _module, _name)


def main() -> None:
    """Console-script entry point: plugin commands, then the app, behind the error boundary."""
    from ..plugins import register_plugin_commands
    from .ray_flags import bare_ray_flag

    sys.argv[1:] = bare_ray_flag(sys.argv[1:])  # `--ray` alone means a local Ray instance
    try:
        register_plugin_commands(app)
        app()
    except EnsembleError as err:  # raised outside a command (the root group catches the rest)
        report_error(err)
        sys.exit(err.exit_code)
