"""``ensemble plugins`` and the root app: table, JSON, errors shown (not raised), ``--version``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dummy_plugins import dummy_registry, make_plugin  # noqa: E402
from ensemble_cli import __version__  # noqa: E402
from ensemble_cli.cli.main import app  # noqa: E402
from ensemble_cli.plugins import use_registry  # noqa: E402
from ensemble_cli.registry import PluginInfo  # noqa: E402

runner = CliRunner()


def _boom(register):
    raise RuntimeError("boom")


def registry_with_problems():
    registry = dummy_registry(make_plugin("broken-plugin", register_aggregators=_boom))
    registry.add_plugin(PluginInfo("sleepy-plugin", "2.0", disabled="blocked (ENSEMBLE_PLUGINS_BLOCK)"))
    return registry


def test_plugins_json() -> None:
    with use_registry(registry_with_problems()):
        result = runner.invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    by_name = {p["name"]: p for p in document["plugins"]}
    assert by_name["dummy_plugins"]["status"] == "ok"
    assert by_name["dummy_plugins"]["components"]["aggregator"] == ["loop", "reward"]
    assert by_name["broken-plugin"]["status"] == "error"
    assert by_name["broken-plugin"]["error"] == "register_aggregators failed: RuntimeError: boom"
    assert by_name["sleepy-plugin"]["status"] == "disabled"
    assert by_name["sleepy-plugin"]["version"] == "2.0"


def test_plugins_table() -> None:
    with use_registry(registry_with_problems()):
        result = runner.invoke(app, ["plugins"])
    assert result.exit_code == 0, result.output
    expected = ("dummy_plugins", "aggregator: loop, reward", "broken-plugin", "error", "sleepy-plugin", "2.0")
    for text in expected:
        assert text in result.stdout


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"ensemble-cli {__version__}"


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("plugins", "recipes"):
        assert command in result.stdout
