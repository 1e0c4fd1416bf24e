"""Model names: typos are recipe problems with a "did you mean", and a hub id with no hub to reach
fails in seconds (naming the reason and the offline aliases) instead of retrying for most of a minute."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from ensemble_cli.core.pool import ModelPool
from ensemble_cli.errors import ModelLoadError, RecipeError
from ensemble_cli.generators.hf import HFConfig, HFGenerator
from ensemble_cli.models import ALIASES, resolve_model
from ensemble_cli.models.hub import model_name_problem
from ensemble_cli.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = (ROOT / "recipes" / "quickstart.yaml").read_text()
MISSING = "acme-test/no-such-model"


def _recipe(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


def test_alias_typo_is_a_validation_error_with_did_you_mean(tmp_path: Path) -> None:
    assert "model: gemma3-270m" in QUICKSTART
    recipe = _recipe(tmp_path, QUICKSTART.replace("model: gemma3-270m", "model: gemma3-270"))
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe)
    assert [str(p) for p in info.value.problems] == [
        "models.1.params.model: unknown model 'gemma3-270' — not a built-in alias, a local folder or a hub id "
        "(org/name); did you mean 'gemma3-270m'?"
    ]


def test_vllm_models_are_checked_too(tmp_path: Path) -> None:
    text = (ROOT / "recipes" / "vllm.yaml").read_text()
    recipe = _recipe(tmp_path, text.replace("smollm2-135m-instruct", "smollm2-135m", 1))
    with pytest.raises(RecipeError, match=r"models\.0\.params\.model: unknown model 'smollm2-135m' .* "
                                          r"did you mean 'smollm2-135m-instruct'\?"):
        load_recipe(recipe)


def test_aliases_folders_and_hub_ids_pass(tmp_path: Path) -> None:
    for alias in ALIASES:
        assert model_name_problem(alias) is None
    assert model_name_problem(str(tmp_path)) is None  # an existing folder
    assert model_name_problem("Qwen/Qwen2.5-Math-7B-Instruct") is None
    assert model_name_problem("HuggingFaceTB/SmolLM2-135M-Instruct") is None
    missing_folder = model_name_problem(str(tmp_path / "no" / "such" / "folder"))
    assert missing_folder is not None and missing_folder.startswith("unknown model")
    # nothing close: the aliases are listed instead of a guess
    assert model_name_problem("gpt2") == (
        "unknown model 'gpt2' — not a built-in alias, a local folder or a hub id (org/name); "
        f"built-in aliases: {', '.join(ALIASES)}"
    )


def test_suggestions_come_from_the_alias_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Aliases added to ALIASES are known to validation without further code."""
    monkeypatch.setitem(ALIASES, "qwen2.5-coder-0.5b-instruct", ALIASES["gemma3-270m"])
    assert model_name_problem("qwen2.5-coder-0.5b-instruct") is None
    problem = model_name_problem("qwen2.5-coder-0.5b-instrct")
    assert problem is not None and problem.endswith("did you mean 'qwen2.5-coder-0.5b-instruct'?")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: connections are refused


def test_hub_id_fails_fast_with_hf_hub_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(ModelLoadError) as info:
        HFGenerator(HFConfig(model=MISSING), ModelPool()).load()
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert f"cannot load model '{MISSING}': the model hub is unreachable (HF_HUB_OFFLINE is set)" in message
    assert all(alias in message for alias in ALIASES)


def test_hub_id_fails_fast_when_the_endpoint_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    start = time.perf_counter()
    with pytest.raises(ModelLoadError) as info:
        resolve_model(MISSING)
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert "the model hub is unreachable" in message and f"{endpoint} did not answer" in message
    assert f"built-in alias ({', '.join(ALIASES)})" in message


def test_a_cached_hub_model_loads_from_its_snapshot_when_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--acme-test--cached"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert Path(resolve_model("acme-test/cached")) == snapshot
    with pytest.raises(ModelLoadError):
        resolve_model(MISSING)


def test_local_folders_and_aliases_never_probe_the_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path / "org" / "name"
    folder.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert resolve_model("org/name") == "org/name"  # a folder that looks like a hub id is a folder
    assert resolve_model(str(folder)) == str(folder)
