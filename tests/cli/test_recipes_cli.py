"""``ensemble recipes validate|show``: exit 0 with the hash, or exit 2 listing every problem."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dummy_plugins import dummy_registry, make_plugin  # noqa: E402
from ensemble_cli.cli.main import app  # noqa: E402
from ensemble_cli.plugins import use_registry  # noqa: E402

runner = CliRunner()

GOOD = """\
name: quick
models:
  - name: smol
    generator: dummy
    params: {model: /does/not/exist}
aggregator:
  type: reward
  params: {segment_tokens: 32, max_rounds: 16}
scorer: {type: dummy-scorer}
"""

BAD = """\
name: quick
models:
  - name: smol
    generator: dumy
    params: {model: x}
aggregator:
  type: reward
  params: {segment_tokns: 32, max_rounds: 16}
generation: {max_tokens: -1}
"""


@pytest.fixture(autouse=True)
def registry() -> Iterator[None]:
    with use_registry(dummy_registry()):
        yield


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    return path


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    return path


def test_validate_ok(good: Path) -> None:
    result = runner.invoke(app, ["recipes", "validate", str(good)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: quick (hash ")
    assert result.stderr == ""


def test_validate_lists_every_problem_and_exits_2(bad: Path) -> None:
    result = runner.invoke(app, ["recipes", "validate", str(bad)])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: invalid recipe {bad}:"
    assert [line.strip() for line in lines[1:]] == [
        "models.0.generator: unknown generator 'dumy' — did you mean 'dummy'? Available: dummy",
        "aggregator.params.segment_tokns: unknown field (did you mean segment_tokens?)",
        "scorer: required by aggregator 'reward'",
        "generation.max_tokens: input should be greater than 0 (got -1)",
    ]


def test_validate_json_failure(bad: Path) -> None:
    result = runner.invoke(app, ["recipes", "validate", str(bad), "--json"])
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["ok"] is False
    paths = [p["path"] for p in document["problems"]]
    assert paths == [
        "models.0.generator",
        "aggregator.params.segment_tokns",
        "scorer",
        "generation.max_tokens",
    ]


def test_validate_json_ok_with_overrides(good: Path) -> None:
    args = ["recipes", "validate", str(good), "--json", "--set", "aggregator.params.max_rounds=8"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["ok"] is True
    assert document["recipe"]["aggregator"]["params"] == {"segment_tokens": 32, "max_rounds": 8}
    plain = runner.invoke(app, ["recipes", "validate", str(good)])
    assert document["hash"] not in plain.stdout  # the override changed the hash


def test_overrides_can_fix_a_recipe(bad: Path) -> None:
    result = runner.invoke(
        app,
        [
            "recipes", "validate", str(bad),
            "--set", "models.0.generator=dummy",
            "--set", "aggregator.params={segment_tokens: 32}",
            "--set", "scorer.type=dummy-scorer",
            "--set", "generation.max_tokens=64",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def test_malformed_override_is_a_usage_error(good: Path) -> None:
    result = runner.invoke(app, ["recipes", "validate", str(good), "--set", "aggregator.params.max_rounds"])
    assert result.exit_code == 2
    assert "error: invalid override 'aggregator.params.max_rounds'" in result.stderr


def test_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["recipes", "validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "error: recipe file not found:" in result.stderr
    as_json = runner.invoke(app, ["recipes", "validate", str(tmp_path / "nope.yaml"), "--json"])
    assert as_json.exit_code == 2
    assert json.loads(as_json.stdout)["ok"] is False


def test_broken_plugin_is_warned_about(good: Path) -> None:
    def boom(register):
        raise RuntimeError("boom")

    with use_registry(dummy_registry(make_plugin("broken-plugin", register_scorers=boom))):
        result = runner.invoke(app, ["recipes", "validate", str(good)])
    assert result.exit_code == 0
    expected = "warning: plugin 'broken-plugin' failed: register_scorers failed: RuntimeError: boom"
    assert expected in result.stderr


def test_show_prints_the_resolved_recipe(good: Path) -> None:
    result = runner.invoke(app, ["recipes", "show", str(good), "--set", "generation.stop=['###']"])
    assert result.exit_code == 0, result.output
    first, _, body = result.stdout.partition("\n")
    assert first.startswith(f"# {good} (hash ")
    shown = yaml.safe_load(body)
    assert shown["selector"] == {"type": "all", "params": {}}
    assert shown["models"][0]["params"] == {"model": "/does/not/exist", "dtype": "float32"}
    assert shown["generation"]["stop"] == ["###"]


# -- recipes list -------------------------------------------------------------------------------


def test_list_shows_each_recipe_with_its_description(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(GOOD.replace("name: quick", "name: b\ndescription: |\n  first line\n  more"))
    (tmp_path / "a.yaml").write_text(GOOD.replace("name: quick", "name: a\nrequires: [gpu]"))
    (tmp_path / "c.yaml").write_text(BAD)
    (tmp_path / "notes.txt").write_text("not a recipe")
    result = runner.invoke(app, ["recipes", "list", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(str(tmp_path / "a.yaml")) and lines[0].endswith("(no description) [requires: gpu]")
    assert lines[1].startswith(str(tmp_path / "b.yaml")) and lines[1].endswith("  first line")
    assert "[invalid: " in lines[2]
    doc = json.loads(runner.invoke(app, ["recipes", "list", "--dir", str(tmp_path), "--json"]).stdout)
    assert [(r["name"], r["description"], r["requires"], r["status"]) for r in doc["recipes"][:2]] == [
        ("a", "", ["gpu"], "ok"),
        ("b", "first line", [], "ok"),
    ]


def test_list_of_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["recipes", "list", "--dir", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "recipe folder not found" in result.stderr
