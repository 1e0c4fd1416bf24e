"""``ensemble_cli.calibrate(...)`` is ``ensemble calibrate``: the same file, and its content returned."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import ensemble_cli
from ensemble_cli import UsageError
from ensemble_cli.cli.main import app


def test_calibrate_returns_the_file_the_cli_writes(duo: dict[str, Any], tmp_path: Path) -> None:
    recipe = tmp_path / "duo.yaml"
    recipe.write_text(yaml.safe_dump(duo))
    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in ["Hello there", "What is 2 + 2?", "Count: 1, 2"]))
    result = CliRunner().invoke(app, ["calibrate", str(recipe), "-i", str(data), "-o", str(tmp_path / "cli.json")])
    assert result.exit_code == 0, result.output
    reference = ensemble_cli.calibrate(recipe, data, tmp_path / "py.json")
    assert reference.pop("path") == str(tmp_path / "py.json")
    assert reference == json.loads((tmp_path / "py.json").read_text())
    assert reference == json.loads((tmp_path / "cli.json").read_text())
    assert set(reference["models"]) == {"first", "second"} and reference["models"]["first"]["examples"] == 3
    assert f"first: perplexity {reference['models']['first']['perplexity']['mean']:.3f}" in result.stdout

    with pytest.raises(UsageError, match="pass --output FILE"):
        ensemble_cli.calibrate(recipe, data)
