"""Two tiny random-weight Llamas (real tokenizer) and a two-member recipe over them, as a dict."""

from __future__ import annotations

from typing import Any

import pytest

from tiny_models import save_tiny_llamas


@pytest.fixture(scope="session")
def duo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    a, b = save_tiny_llamas(tmp_path_factory.mktemp("ray-tiny-models"), tie_word_embeddings=False)
    return {
        "name": "tiny-duo",
        "models": [
            {"name": "first", "generator": "hf", "params": {"model": str(a), "dtype": "float32"}},
            {"name": "second", "generator": "hf", "params": {"model": str(b), "dtype": "float32"}},
        ],
        "aggregator": {"type": "reward", "params": {"segment_tokens": 4, "max_rounds": 3}},
        "scorer": "logprob",
        "generation": {"max_tokens": 12, "temperature": 0.0, "seed": 7},
    }
