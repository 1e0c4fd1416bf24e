"""``ensemble serve --ui`` / ``ensemble ui`` on the command line, before any server starts: option
checks, the missing-extra message, and the URL ``ensemble ui`` prints."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ensemble_cli.cli.main import app

runner = CliRunner()


def test_ui_options_need_ui(duo_recipe: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", str(duo_recipe), "--votes", str(tmp_path / "v.jsonl")])
    assert result.exit_code == 2 and "--votes, --bench and --recipes belong to the web UI: add --ui" in result.stderr
    result = runner.invoke(app, ["serve", str(duo_recipe), "--recipes", str(tmp_path)])
    assert result.exit_code == 2 and "add --ui" in result.stderr


def test_a_recipes_folder_that_is_not_a_folder_is_named(duo_recipe: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", str(duo_recipe), "--ui", "--recipes", str(tmp_path / "nope")])
    assert result.exit_code == 2 and f"--recipes {tmp_path / 'nope'}: not a folder" in result.stderr


def test_a_bench_that_is_not_a_folder_is_named(duo_recipe: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", str(duo_recipe), "--ui", "--bench", str(tmp_path)])
    assert result.exit_code == 2 and f"--bench {tmp_path}: not a finished bench folder" in result.stderr


def test_missing_extra_names_the_ui_extra(duo_recipe: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "ensemble_cli.server.runner", raising=False)
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn -> ModuleNotFoundError
    result = runner.invoke(app, ["serve", str(duo_recipe), "--ui"])
    assert result.exit_code == 2
    message = "ensemble serve --ui needs the 'ui' extra (uvicorn is missing): pip install 'ensemble-cli[ui]'"
    assert message in result.stderr


def test_ensemble_ui_prints_the_url_and_serves_with_the_ui(duo_recipe: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr("ensemble_cli.server.runner.serve", lambda resolved, **kw: seen.update(kw, name=resolved.name))
    result = runner.invoke(app, ["ui", str(duo_recipe), "--port", "8123", "--votes", "v.jsonl"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "http://127.0.0.1:8123/ui"
    assert seen["name"] == "tiny-duo" and seen["port"] == 8123 and seen["ui"].votes == Path("v.jsonl")
