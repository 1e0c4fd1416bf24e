"""A plugin component failing under ``ensemble run``: the error record names the component and its
plugin and keeps the row's label (so ``ensemble eval`` counts the row wrong), and ``--verbose`` /
``ENSEMBLE_DEBUG=1`` add the traceback to stderr and to the record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import failing_plugins
import fixture_plugins  # tests/ is on sys.path (conftest.py)
from ensemble_cli.cli.main import app
from ensemble_cli.plugins import load_registry, use_registry
from ensemble_cli.verbosity import ENV_VAR

RECIPE = """\
name: picky
models: [{{name: a, generator: echo-gen}}]
selector: echo-all
aggregator: pick
scorer: {scorer}
"""

MESSAGE = "scorer 'shortest' (plugin ensemble-shortest) raised ZeroDivisionError: division by zero"


@pytest.fixture(autouse=True)
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(ENV_VAR, "0")  # restored afterwards, also when --verbose turns it on
    plugins = [fixture_plugins, failing_plugins.plugin("ensemble-shortest")]
    with use_registry(load_registry(autoload=False, extra_plugins=plugins, builtins=False)):
        yield


def run(tmp_path: Path, *flags: str, scorer: str = "shortest"):  # noqa: ANN201 - click's Result
    recipe = tmp_path / "picky.yaml"
    recipe.write_text(RECIPE.format(scorer=scorer))
    data = tmp_path / "data.jsonl"
    rows = [
        {"id": "ok", "prompt": "1|22", "answer": "1"},
        {"id": "boom", "prompt": "3||4", "answer": "3", "subject": "algebra"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, [*flags, "run", str(recipe), "-i", str(data), "-o", str(out), "--batch-size", "2"])
    return result, {r["id"]: r for r in map(json.loads, out.read_text().splitlines())} if out.exists() else {}


def test_the_error_record_names_the_plugin_and_keeps_the_label(tmp_path: Path) -> None:
    result, recs = run(tmp_path)
    assert result.exit_code == 1, result.output
    boom = recs["boom"]
    assert boom["error"] == MESSAGE
    assert (boom["label"], boom["subject"], boom["prompt"], boom["line"]) == ("3", "algebra", "3||4", 2)
    assert "traceback" not in boom and "Traceback" not in result.stderr
    assert MESSAGE in " ".join(result.stderr.split())  # reported above the progress bar (wrapped at 80 columns)
    assert recs["ok"]["output"] == "1"

    graded = CliRunner().invoke(app, ["eval", str(tmp_path / "out.jsonl"), "--format", "json"])
    assert graded.exit_code == 0, graded.output
    [doc] = json.loads(graded.stdout)["files"]
    assert (doc["correct"], doc["total"], doc["errors"], doc["ungraded"]) == (1, 2, 1, 0)
    assert doc["by_subject"]["algebra"] == {**doc["by_subject"]["algebra"], "correct": 0, "total": 1}


@pytest.mark.parametrize("how", ["flag", "env"])
def test_verbose_adds_the_traceback_to_stderr_and_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    if how == "env":
        monkeypatch.setenv(ENV_VAR, "1")
    result, recs = run(tmp_path, *(["--verbose"] if how == "flag" else []))
    assert result.exit_code == 1, result.output
    trace = recs["boom"]["traceback"]
    assert trace.startswith("Traceback (most recent call last):")
    assert "failing_plugins.py" in trace and "in score" in trace
    assert trace.endswith("ZeroDivisionError: division by zero")
    assert recs["boom"]["error"] == MESSAGE
    assert "failing_plugins.py" in result.stderr and "ZeroDivisionError: division by zero" in result.stderr


def test_too_few_scores_in_a_record(tmp_path: Path) -> None:
    result, recs = run(tmp_path, scorer="too-few")
    assert result.exit_code == 1
    assert recs["ok"]["error"] == (
        "scorer 'too-few' (plugin ensemble-shortest) returned a wrong result from score(): "
        "expected a list of 2 floats (one per candidate), got a list of 1"
    )


def test_a_component_failing_before_the_run_is_a_named_error(tmp_path: Path) -> None:
    plain, _ = run(tmp_path, scorer="fragile")
    assert plain.exit_code == 1
    assert "error: scorer 'fragile' (plugin ensemble-shortest) raised KeyError: 'weights' while being built" in (
        plain.stderr
    )
    assert "Traceback" not in plain.stderr
    verbose, _ = run(tmp_path, "--verbose", scorer="fragile")
    assert verbose.exit_code == 1
    assert "Traceback (most recent call last):" in verbose.stderr and "raise KeyError" in verbose.stderr
