"""``ensemble_cli.bench(...)`` is ``ensemble bench --format json``: one implementation, the same document.

The two runs generate separately, so wall times differ; everything else (accuracies, oracle,
McNemar, tokens, attribution, the reproducing command) must be identical, and each run's document
must be the ``bench.json`` it wrote.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import ensemble_cli
from ensemble_cli import UsageError
from ensemble_cli.cli.main import app

ROWS = [
    {"id": "q1", "question": "What is 2+2?", "answer": "4"},
    {"id": "q2", "question": "What is 3*3?", "answer": "9"},
    {"id": "q3", "question": "How many legs has a cat?", "answer": "4"},
]
TIMED = ("seconds", "time", "latency")  #: keys whose values are wall-clock measurements


def untimed(value: Any, out_dir: Path) -> Any:
    """``value`` without wall-clock figures, with ``out_dir`` spelled ``OUT``."""
    if isinstance(value, dict):
        return {k: untimed(v, out_dir) for k, v in value.items() if not any(t in k for t in TIMED)}
    if isinstance(value, list):
        return [untimed(v, out_dir) for v in value]
    if isinstance(value, str):
        return value.replace(str(out_dir), "OUT")
    return value


@pytest.fixture
def files(duo: dict[str, Any], tmp_path: Path) -> tuple[Path, Path]:
    recipe = tmp_path / "duo.yaml"
    recipe.write_text(yaml.safe_dump(duo))
    data = tmp_path / "problems.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return recipe, data


def test_bench_returns_what_the_cli_prints(files: tuple[Path, Path], tmp_path: Path) -> None:
    recipe, data = files
    cli_out, py_out = tmp_path / "cli", tmp_path / "py"
    args = ["bench", str(recipe), "--input", str(data), "--limit", "2", "--batch-size", "2",
            "--output-dir", str(cli_out), "--set", "generation.max_tokens=6", "--format", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)

    document = ensemble_cli.bench(recipe, data, limit=2, batch_size=2, output_dir=py_out,
                                  overrides=["generation.max_tokens=6"], progress=False)
    assert document == json.loads((py_out / "bench.json").read_text())
    assert printed == json.loads((cli_out / "bench.json").read_text())
    assert document["problems"] == 2 and document["ensemble"]["name"] == "tiny-duo"
    assert document["ensemble"]["cost"]["generated_tokens"] > 0
    assert (py_out / "report.html").exists() and (py_out / "report.png").exists()
    cli_args = printed.pop("arguments")
    py_args = document.pop("arguments")
    assert py_args == {k: v for k, v in cli_args.items() if k != "fmt"} | {"output_dir": str(py_out)}
    assert untimed(document, py_out) == untimed(printed, cli_out)
    # the reproducing command is the CLI's, option for option
    assert document["command"] == printed["command"].replace(str(cli_out), str(py_out))


def test_bench_checks_its_arguments_before_loading(files: tuple[Path, Path], tmp_path: Path) -> None:
    recipe, data = files
    with pytest.raises(UsageError, match="exactly one of --input FILE and --dataset NAME"):
        ensemble_cli.bench(recipe, progress=False)
    with pytest.raises(UsageError, match="no problems left after --offset 3"):
        ensemble_cli.bench(recipe, data, offset=3, output_dir=tmp_path / "x", progress=False)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "bench.json").write_text("{}")
    with pytest.raises(UsageError, match="already holds a bench"):
        ensemble_cli.bench(recipe, data, output_dir=tmp_path / "taken", progress=False)
