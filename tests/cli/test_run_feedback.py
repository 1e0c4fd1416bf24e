"""``ensemble run`` in a real process with stderr going to a file (not a terminal), on tiny
random-weight models saved as HF folders: the status lines are there from resolving to the last
row, as plain lines, with no ``\\r``, no escape codes and no transformers progress bars, unless
``--verbose`` asks for the libraries' own output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tiny_models import save_tiny_llamas

RECIPE = """\
name: tiny-duo
models:
  - name: first
    generator: hf
    params: {{model: {a}, dtype: float32}}
  - name: second
    generator: hf
    params: {{model: {b}, dtype: float32}}
aggregator:
  type: reward
  params: {{segment_tokens: 4, max_rounds: 3}}
scorer: logprob
generation: {{max_tokens: 12, temperature: 0.0, seed: 7}}
"""
ENTRY = "from ensemble_cli.cli.main import main; main()"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("feedback")
    dirs = save_tiny_llamas(root)
    recipe = root / "duo.yaml"
    recipe.write_text(RECIPE.format(a=dirs[0], b=dirs[1]))
    data = root / "data.jsonl"
    data.write_text("".join(json.dumps({"id": f"r{i}", "prompt": f"Say {i}."}) + "\n" for i in range(3)))
    return recipe, data


def run_cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ENSEMBLE_DEBUG"}
    with (tmp_path / "stderr.log").open("w+") as err:  # a file, as in `ensemble run ... 2> log`
        proc = subprocess.run([sys.executable, "-c", ENTRY, *args], stdout=subprocess.PIPE, stderr=err,
                              text=True, env=env, timeout=300)
        err.seek(0)
        proc.stderr = err.read()
    return proc


def test_stderr_in_a_log_file_is_plain_status_lines(setup: tuple[Path, Path], tmp_path: Path) -> None:
    recipe, data = setup
    out = tmp_path / "out.jsonl"
    proc = run_cli(["run", str(recipe), "--input", str(data), "--output", str(out), "--batch-size", "2"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "\r" not in err and "\x1b" not in err, err
    assert "Loading weights" not in err and "it/s]" not in err, err  # no transformers / tqdm bars
    lines = err.splitlines()
    assert lines[0] == f"resolving recipe {recipe}…"
    assert lines[1] == f"recipe tiny-duo: first + second, aggregator reward, scorer logprob; 3 of 3 rows to do → {out}"
    assert "loading model first (hf " in err and "loading model second (hf " in err
    loaded = [line for line in lines if line.startswith("loaded model ")]
    assert len(loaded) == 2 and all("float32: " in line and " params, " in line for line in loaded), loaded
    assert any(line.startswith("models ready in ") for line in lines)
    assert "run: 3 rows to do" in lines
    assert any(line.startswith("run: 3/3 rows done, ") for line in lines)
    assert len(out.read_text().splitlines()) == 3


def test_verbose_lets_the_libraries_speak(setup: tuple[Path, Path], tmp_path: Path) -> None:
    """The check above can fail: the same run with ``--verbose`` shows transformers' own bar."""
    recipe, data = setup
    out = tmp_path / "out.jsonl"
    proc = run_cli(["--verbose", "run", str(recipe), "--input", str(data), "--output", str(out), "--limit", "1"],
                   tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Loading weights" in proc.stderr
