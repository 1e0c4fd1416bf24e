"""The reproducing command ``bench.json`` records: rebuilt from what click parsed, not from sys.argv."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer
from typer.testing import CliRunner

from ensemble_cli.cli.command_line import command_line, given_arguments


class Fmt(StrEnum):
    table = "table"
    json = "json"


app = typer.Typer()


@app.command()
def bench(
    ctx: typer.Context,
    recipe: str,
    limit: Annotated[int | None, typer.Option()] = None,
    output_dir: Annotated[str | None, typer.Option("--output-dir", "-o")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite")] = False,
    fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.table,
    overrides: Annotated[list[str] | None, typer.Option("--set")] = None,
    batch_size: Annotated[int, typer.Option()] = 8,
) -> None:
    print(command_line("ensemble bench", ctx, leave_out=("overwrite",)))
    print(json.dumps(given_arguments(ctx)))


def test_options_in_their_long_spelling_defaults_and_left_out_ones_omitted() -> None:
    args = ["-f", "json", "my recipe.yaml", "--overwrite", "--set", "a=1", "-o", "out", "--set", "b=2", "--limit", "5"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    command, arguments = result.stdout.splitlines()
    assert command == "ensemble bench 'my recipe.yaml' --limit 5 --output-dir out --format json --set a=1 --set b=2"
    assert json.loads(arguments) == {
        "recipe": "my recipe.yaml",
        "limit": 5,
        "output_dir": "out",
        "overwrite": True,
        "fmt": "json",
        "overrides": ["a=1", "b=2"],
    }  # batch_size stayed at its default: not given, not recorded
