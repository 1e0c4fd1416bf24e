"""Integration tier: every runnable recipe in ``recipes/`` on 2 demo prompts with the real models.

Parametrized over ``recipes/**/*.yaml``, so recipes added later are covered without editing this
file. A recipe that needs more than a CPU and the offline default models declares it with the
top-level ``requires:`` field (``gpu``, ``server``, ``network``, ``vllm``) and is skipped here;
``large-models`` recipes (``recipes/quality/``) run when their weight packages are installed (the
``large-models`` extra) and are skipped, with the reason, when they are not. ``max_tokens`` is
lowered to 48 to keep CI time modest; everything else runs as written, through ``ensemble run``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ensemble_cli.cli.main import app

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "recipes").rglob("*.yaml"))


def _skip_reason(data: dict) -> str | None:
    """Why this machine cannot run the recipe (None: it can)."""
    requires = data.get("requires") or []
    other = [r for r in requires if r != "large-models"]
    if other:
        return f"requires {', '.join(other)}"
    if "large-models" in requires:
        from ensemble_cli.models import get_alias

        names = [str((m.get("params") or {}).get("model")) for m in data.get("models") or []]
        absent = [n for n in names if (a := get_alias(n)) is None or a.package_dir() is None]
        if absent:
            return f"requires large-models: {', '.join(absent)} not installed (extra 'large-models')"
    return None


def _param(path: Path):
    reason = _skip_reason(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    marks = [pytest.mark.skip(reason=reason)] if reason else []
    return pytest.param(path, id=str(path.relative_to(ROOT / "recipes").with_suffix("")), marks=marks)


@pytest.mark.parametrize("recipe", [_param(p) for p in RECIPES])
def test_recipe_runs_offline_on_two_demo_prompts(recipe: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)  # recipes name files (reference stats) relative to the repository root
    out = tmp_path / "out.jsonl"
    args = ["run", str(recipe), "--input", "data/demo.jsonl", "--limit", "2", "--output", str(out),
            "--set", "generation.max_tokens=48"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == ["demo-01", "demo-02"]
    for r in records:
        assert r.get("error") is None
        assert r["output"].strip()
        assert "".join(a["text"] for a in r["attribution"]) == r["output"]
        assert r["finish_reason"] in ("stop", "length")
        # token-level attribution names every model whose top choice agreed, joined by '+'
        writers = {name for a in r["attribution"] for name in a["model"].split("+") if name}
        assert r["selected_models"] and writers <= set(r["selected_models"])
        assert r["usage"]["completion_tokens"] <= 48
