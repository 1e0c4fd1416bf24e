"""``Ensemble.run`` is ``ensemble run``: the same function writes the same records, resumes, and
reports its exit code; ``evaluate`` is ``ensemble eval --format json``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import fixture_plugins
from ensemble_cli import Ensemble, UsageError, evaluate
from ensemble_cli.cli.main import app
from ensemble_cli.plugins import load_registry, use_registry

RECIPE = {"name": "echo", "models": [{"name": "a", "generator": "echo-gen"}], "selector": "echo-all",
          "aggregator": {"type": "echo", "params": {"fail_on": "boom"}}}
ROWS = [{"id": "r0", "prompt": "12", "answer": "12"}, {"id": "r1", "prompt": "boom", "answer": "5"},
        {"id": "r2", "prompt": "7", "answer": "8"}]


@pytest.fixture(autouse=True)
def fixture_registry() -> Iterator[None]:
    with use_registry(load_registry(autoload=False, extra_plugins=[fixture_plugins], builtins=False)):
        yield


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS) + "not json\n")
    return path


def _records(path: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "timing"} for line in path.read_text().splitlines()]


def test_run_writes_what_ensemble_run_writes_and_reports_its_exit_code(tmp_path: Path, data: Path) -> None:
    import yaml

    recipe = tmp_path / "echo.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    cli_out = tmp_path / "cli.jsonl"
    cli = CliRunner().invoke(app, ["run", str(recipe), "-i", str(data), "-o", str(cli_out)])
    assert cli.exit_code == 1, cli.output  # one row failed, one row unreadable

    with Ensemble.from_recipe(RECIPE) as ens:
        report = ens.run(data, tmp_path / "py.jsonl", progress=False)
    assert _records(tmp_path / "py.jsonl") == _records(cli_out)
    assert (report.ok, report.errors, report.skipped, report.exit_code) == (2, 2, 0, 1)
    assert report.output == str(tmp_path / "py.jsonl")


def test_run_resumes_by_default_and_limit_counts_before_resume(tmp_path: Path, data: Path) -> None:
    out = tmp_path / "out.jsonl"
    with Ensemble.from_recipe(RECIPE) as ens:
        first = ens.run(data, out, limit=1, progress=False)
        again = ens.run(data, out, progress=False)
    assert (first.ok, first.rows) == (1, 1)
    assert (again.skipped, again.ok, again.errors) == (1, 1, 2)  # r0 kept; r2 done; r1 and the bad line fail
    assert sorted(r["id"] for r in _records(out)) == ["3", "r0", "r1", "r2"]


def test_run_refuses_to_clobber_without_resume_or_overwrite(tmp_path: Path, data: Path) -> None:
    out = tmp_path / "out.jsonl"
    with Ensemble.from_recipe(RECIPE) as ens:
        ens.run(data, out, progress=False)
        with pytest.raises(UsageError, match="already exists .* pass --resume .* or --overwrite"):
            ens.run(data, out, resume=False, progress=False)
        assert ens.run(data, out, resume=False, overwrite=True, progress=False).ok == 2
        with pytest.raises(UsageError, match="is the input file"):
            ens.run(data, data, progress=False)


def test_evaluate_is_the_eval_json_document(tmp_path: Path, data: Path) -> None:
    out = tmp_path / "out.jsonl"
    with Ensemble.from_recipe(RECIPE) as ens:
        ens.run(data, out, progress=False)
    cli = CliRunner().invoke(app, ["eval", str(out), "--format", "json"])
    assert cli.exit_code == 0, cli.output
    document = evaluate(out)
    assert document == json.loads(cli.stdout)
    graded = document["files"][0]
    assert (graded["correct"], graded["total"], graded["errors"]) == (1, 3, 2)  # 12 right, boom and 7 wrong
