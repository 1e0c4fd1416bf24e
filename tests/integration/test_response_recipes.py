"""Integration tier: the response-level recipes run end to end on 2 demo prompts with the real models.

Every recipe under ``recipes/`` is validated; the offline ones of the scorer issue (best-of-n,
vote, rank, moa) are run through ``ensemble run`` in this process (the ModelPool loads the two
default models once for all of them). A recipe whose first line is ``# requires: gpu`` is only
validated (``prm-math``: three 7B checkpoints from the hub). Token budgets are cut with ``--set``
to keep CI time modest; the recipes' own budgets are what users run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ensemble_cli.cli.main import app
from ensemble_cli.recipe import load_recipe

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
OFFLINE = ["best-of-n", "vote", "rank", "moa"]
SHORT = ["generation.max_tokens=40"]
EXTRA = {"moa": ["aggregator.params.proposer_max_tokens=24"]}


def requires_gpu(path: Path) -> bool:
    """The recipe convention: a first line ``# requires: gpu`` marks a recipe CI must not run."""
    first = path.read_text(encoding="utf-8").splitlines()[:1]
    return bool(first) and first[0].replace(" ", "").lower() == "#requires:gpu"


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_recipe_validates(path):
    assert load_recipe(path).name == path.stem


def test_gpu_marker():
    assert requires_gpu(ROOT / "recipes" / "prm-math.yaml")
    assert not any(requires_gpu(ROOT / "recipes" / f"{name}.yaml") for name in OFFLINE)


@pytest.mark.parametrize("name", OFFLINE)
def test_offline_recipe_runs_on_two_demo_prompts(name, tmp_path):
    out = tmp_path / f"{name}.jsonl"
    args = ["run", str(ROOT / "recipes" / f"{name}.yaml"), "--input", str(ROOT / "data" / "demo.jsonl"),
            "--output", str(out), "--limit", "2"]
    for override in SHORT + EXTRA.get(name, []):
        args += ["--set", override]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    assert [r["id"] for r in records] == ["demo-01", "demo-02"]
    for r in records:
        assert r.get("error") is None, r["error"]
        assert r["output"].strip()
        assert r["finish_reason"] in ("stop", "length")
        assert "".join(a["text"] for a in r["attribution"]) == r["output"]
        assert {a["model"] for a in r["attribution"]} <= {"smol", "gemma"}
        assert r["usage"]["generated_tokens"] >= r["usage"]["completion_tokens"] > 0
