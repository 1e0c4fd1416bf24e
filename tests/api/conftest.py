"""Tiny random-weight models saved as HF folders (real tokenizers), and recipes around them as dicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tiny_models import save_tiny_llamas


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two tiny Llamas with SmolLM2's tokenizer and different weights."""
    root = tmp_path_factory.mktemp("api-tiny-models")
    dirs = save_tiny_llamas(root, tie_word_embeddings=False)
    return dirs[0], dirs[1]


@pytest.fixture(scope="session")
def duo(tiny_dirs: tuple[Path, Path]) -> dict[str, Any]:
    """A two-member reward ensemble (4-token segments) over the tiny models."""
    a, b = tiny_dirs
    return {
        "name": "tiny-duo",
        "models": [
            {"name": "first", "generator": "hf", "params": {"model": str(a), "dtype": "float32"}},
            {"name": "second", "generator": "hf", "params": {"model": str(b), "dtype": "float32"}},
        ],
        "aggregator": {"type": "reward", "params": {"segment_tokens": 4, "max_rounds": 8}},
        "scorer": "logprob",
        "generation": {"max_tokens": 12, "temperature": 0.0, "seed": 7},
    }
