"""The example plugin ``plugins/ensemble-length-penalty`` through the *real* entry-point path.

Nothing is injected: the registry is loaded from the installed distributions' entry points, as
``ensemble`` does for a user who ran ``pip install ./plugins/ensemble-length-penalty``. Skipped
when that distribution is not installed. The end-to-end run uses tiny random-weight models with
the real tokenizers, saved to folders and named in the recipe like any local model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ensemble_cli import plugins
from ensemble_cli.cli.main import app

DIST = "ensemble-length-penalty"
DEFAULT_PARAMS = {"base": {"type": "logprob", "params": {}}, "alpha": 0.6}

try:
    VERSION = metadata.distribution(DIST).version
except metadata.PackageNotFoundError:
    pytest.skip(
        f"the example plugin is not installed (pip install ./plugins/{DIST})", allow_module_level=True
    )

runner = CliRunner()


@pytest.fixture(autouse=True)
def fresh_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Autoload on, nothing blocked, and the process-wide plugin cache reloaded around each test."""
    monkeypatch.delenv(plugins.AUTOLOAD_ENV, raising=False)
    monkeypatch.delenv(plugins.BLOCK_ENV, raising=False)
    plugins.reset_plugin_cache()
    yield
    plugins.reset_plugin_cache()


def test_entry_point_registers_the_scorer() -> None:
    registry = plugins.load_registry()
    found = registry.lookup("scorer", "length-penalty")
    assert found.plugin == DIST
    assert found.cls.__name__ == "LengthPenaltyScorer"
    info = registry.plugin(DIST)
    assert (info.status, info.version, info.components) == ("ok", VERSION, {"scorer": ["length-penalty"]})


def test_plugins_json_lists_it() -> None:
    result = runner.invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    by_name = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}
    assert by_name[DIST] == {
        "name": DIST,
        "version": VERSION,
        "status": "ok",
        "components": {"scorer": ["length-penalty"]},
        "error": None,
        "disabled": None,
    }


# -- recipes --------------------------------------------------------------------------------------

RECIPE = """\
name: tiny-length-penalty
models:
  - name: llama
    generator: hf
    params: {{model: "{llama}", dtype: float32}}
  - name: gemma
    generator: hf
    params: {{model: "{gemma}", dtype: float32}}
aggregator:
  type: reward
  params: {{segment_tokens: 8, max_rounds: 3}}
scorer:
  type: length-penalty
  params:
    base: {base}
    alpha: {alpha}
generation:
  max_tokens: 24
  temperature: 0.0
  seed: 7
"""


def write_recipe(path: Path, llama: str = "unused-llama", gemma: str = "unused-gemma",
                 base: str = "{type: logprob}", alpha: object = 0.6) -> Path:
    path.write_text(RECIPE.format(llama=llama, gemma=gemma, base=base, alpha=alpha))
    return path


@pytest.mark.parametrize(
    ("base", "alpha", "expected"),
    [
        ("{type: logprob}", -1, "scorer.params.alpha: input should be greater than or equal to 0"),
        (
            "{type: lgoprob}",
            0.6,
            "scorer.params.base.type: unknown scorer 'lgoprob' — did you mean 'logprob'?",
        ),
        ("{type: logprob, params: {x: 1}}", 0.6, "scorer.params.base.params.x: unknown field"),
        (
            "{type: length-penalty, params: {alpha: -2}}",
            0.6,
            "scorer.params.base.params.alpha: input should be greater than or equal to 0",
        ),
    ],
)
def test_validate_reports_bad_params_with_their_path(
    tmp_path: Path, base: str, alpha: object, expected: str
) -> None:
    recipe = write_recipe(tmp_path / "bad.yaml", base=base, alpha=alpha)
    result = runner.invoke(app, ["recipes", "validate", str(recipe)])
    assert result.exit_code == 2, result.output
    assert expected in result.stderr


def test_validate_accepts_the_example_recipe() -> None:
    recipe = Path(__file__).resolve().parents[2] / "plugins" / DIST / "recipes" / "length-penalty.yaml"
    result = runner.invoke(app, ["recipes", "validate", "--json", str(recipe)])
    assert result.exit_code == 0, result.output
    scorer = json.loads(result.stdout)["recipe"]["scorer"]
    assert scorer == {"type": "length-penalty", "params": DEFAULT_PARAMS}


# -- end to end -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny Llama (SmolLM2 tokenizer) and a tiny Gemma-3 (Gemma tokenizer), saved as folders."""
    from tiny_models import tiny_gemma3, tiny_llama  # tests/ is on sys.path (conftest.py)

    root = tmp_path_factory.mktemp("tiny-models")
    dirs = []
    for name, make in (("llama", tiny_llama), ("gemma", tiny_gemma3)):
        model, tok = make(seed=3)
        folder = root / name
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
        dirs.append(folder)
    return dirs[0], dirs[1]


def test_run_end_to_end(
    tmp_path: Path, model_dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    llama, gemma = model_dirs
    recipe = write_recipe(tmp_path / "recipe.yaml", llama=str(llama), gemma=str(gemma))
    data = tmp_path / "in.jsonl"
    rows = [{"id": "q1", "prompt": "What is 2+3?"}, {"id": "q2", "prompt": "Name a colour."}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"

    result = runner.invoke(app, ["run", str(recipe), "--input", str(data), "--output", str(out)])

    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == ["q1", "q2"]
    for rec in records:
        assert "error" not in rec, rec
        assert rec["output"]
        assert "".join(a["text"] for a in rec["attribution"]) == rec["output"]
        assert {a["model"] for a in rec["attribution"]} <= {"llama", "gemma"}
        assert rec["recipe"]["scorer"] == {"type": "length-penalty", "params": DEFAULT_PARAMS}
