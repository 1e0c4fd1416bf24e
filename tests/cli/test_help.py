"""Every command's ``--help`` reads conventionally: flags show no ``<bool>`` placeholder, and usage
lines name arguments as ``RECIPE`` / ``[ALIASES]...`` rather than ``{recipe}`` (``cli/help_notation``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from ensemble_cli.cli.main import app

runner = CliRunner()


def command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The root, every sub-group and every command, as argument lists (Typer's click is vendored,
    so groups are recognised by their ``commands``)."""
    yield path
    if isinstance(getattr(command, "commands", None), dict):
        for name, sub in sorted(command.commands.items()):
            if not sub.hidden:
                yield from command_paths(sub, (*path, name))


PATHS = list(command_paths(typer.main.get_command(app)))


def test_every_command_is_visited() -> None:
    names = {" ".join(p) for p in PATHS}
    assert {"", "run", "serve", "eval", "bench", "recipes validate", "models prepare", "plugins"} <= names


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "ensemble")
def test_help_has_no_value_placeholder_on_flags_and_no_braces(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "<bool>" not in out
    usage = next(line for line in out.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage
    assert re.search(r"--help\s+Show this message", out), out


@pytest.mark.parametrize(
    ("path", "usage"),
    [
        (("run",), "Usage: ensemble run [OPTIONS] RECIPE"),
        (("recipes", "validate"), "Usage: ensemble recipes validate [OPTIONS] FILE"),
        (("models", "prepare"), "Usage: ensemble models prepare [OPTIONS] [ALIASES]..."),
        (("eval",), "Usage: ensemble eval [OPTIONS] FILES..."),
    ],
)
def test_usage_names_arguments_in_capitals(path: tuple[str, ...], usage: str) -> None:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
    assert usage in result.output


def test_value_options_keep_their_type() -> None:
    out = runner.invoke(app, ["eval", "--help"], env={"COLUMNS": "120"}).output
    assert re.search(r"--format\s+-f\s+<table\|json\|markdown>", out), out
