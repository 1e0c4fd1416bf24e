"""A run whose model cannot load fails fast, says why, and leaves no (empty) output file behind."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ensemble_cli.cli.main import app

RECIPE = """\
name: offline
models:
  - name: a
    params: {model: acme-test/no-such-model, dtype: float32}
aggregator: single
"""


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    recipe = tmp_path / "offline.yaml"
    recipe.write_text(RECIPE)
    data = tmp_path / "data.jsonl"
    data.write_text('{"prompt": "hi"}\n')
    return recipe, data


def test_model_load_failure_leaves_no_output_file(files: tuple[Path, Path], tmp_path: Path) -> None:
    recipe, data = files
    out = tmp_path / "out" / "results.jsonl"
    start = time.perf_counter()
    result = CliRunner().invoke(app, ["run", str(recipe), "-i", str(data), "-o", str(out)])
    assert time.perf_counter() - start < 30  # not the ~46 s of hub retries (torch may still be imported)
    assert result.exit_code == 1, result.output
    assert "cannot load model 'acme-test/no-such-model': the model hub is unreachable" in result.stderr
    assert not out.exists()


def test_model_load_failure_keeps_the_file_it_was_to_overwrite(files: tuple[Path, Path], tmp_path: Path) -> None:
    recipe, data = files
    out = tmp_path / "results.jsonl"
    out.write_text('{"id": "0", "output": "kept"}\n')
    result = CliRunner().invoke(app, ["run", str(recipe), "-i", str(data), "-o", str(out), "--overwrite"])
    assert result.exit_code == 1, result.output
    assert out.read_text() == '{"id": "0", "output": "kept"}\n'
