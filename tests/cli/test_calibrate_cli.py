"""``ensemble calibrate`` end to end on tiny random-weight models saved as local model folders:
the statistics file (keyed by model name), then ``recipes validate`` and ``run`` with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ensemble_cli.cli.main import app
from tiny_models import tiny_llama

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> dict[str, str]:
    """Two members: tiny Llamas with different random weights (a tiny Gemma's 262k vocabulary would
    make saving it the slowest part of the test)."""
    out = {}
    for name, seed in (("llama", 0), ("gemma", 1)):
        folder = tmp_path_factory.mktemp(name)
        model, tok = tiny_llama(seed)
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
        out[name] = str(folder)
    return out


def write_recipe(tmp_path: Path, model_dirs: dict[str, str], **selector_params) -> Path:
    data = {
        "name": "z",
        "models": [{"name": n, "params": {"model": d, "dtype": "float32"}} for n, d in model_dirs.items()],
        "selector": {"type": "zscore", "params": selector_params},
        "aggregator": {"type": "loop", "params": {"segment_tokens": 4, "max_rounds": 2}},
        "generation": {"max_tokens": 8},
    }
    path = tmp_path / "z.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_calibrate_then_validate_and_run(tmp_path, model_dirs, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = write_recipe(tmp_path, model_dirs, reference_stats="stats/ref.json", top_k=1)
    demo = str(ROOT / "data" / "demo.jsonl")
    result = runner.invoke(app, ["calibrate", str(recipe), "--input", demo, "--limit", "4"])
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "stats" / "ref.json").read_text())
    assert doc["format"] == "ensemble-cli/zscore-reference/1" and doc["recipe"] == "z"
    assert sorted(doc["models"]) == ["gemma", "llama"]
    assert all(m["examples"] == 4 and m["perplexity"]["std"] > 0 for m in doc["models"].values())
    assert "wrote stats/ref.json" in result.stdout

    assert runner.invoke(app, ["recipes", "validate", str(recipe)]).exit_code == 0
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["run", str(recipe), "--input", demo, "--limit", "2", "--output", str(out)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [len(r["selected_models"]) for r in records] == [1, 1]

    del doc["models"]["gemma"]
    (tmp_path / "stats" / "ref.json").write_text(json.dumps(doc))
    result = runner.invoke(app, ["recipes", "validate", str(recipe)])
    assert result.exit_code == 2
    assert "selector.params.reference_stats: stats/ref.json has no statistics for model(s) 'gemma'" in result.stderr


def test_calibrate_needs_a_destination(tmp_path, model_dirs):
    recipe = write_recipe(tmp_path, model_dirs)
    result = runner.invoke(app, ["calibrate", str(recipe), "--input", str(ROOT / "data" / "demo.jsonl")])
    assert result.exit_code == 2 and "pass --output FILE" in result.stderr
