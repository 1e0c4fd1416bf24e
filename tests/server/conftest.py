"""Shared fixtures: tiny random-weight models saved to disk (real tokenizers), recipes around them,
and live servers (one per recipe for the whole session, stopped with SIGTERM at the end)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from live import LiveServer, launch

from tiny_models import save_tiny_llamas

SINGLE = """\
name: tiny-single
models:
  - name: solo
    generator: hf
    params: {{model: {a}, dtype: float32}}
aggregator: single
generation: {{max_tokens: 12, temperature: 0.0, seed: 7}}
"""

ENSEMBLE = """\
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
  params: {{segment_tokens: 4, max_rounds: 8}}
scorer: logprob
generation: {{max_tokens: 12, temperature: 0.0, seed: 7}}
"""

@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two tiny Llamas with SmolLM2's tokenizer (different weights), saved as HF folders."""
    root = tmp_path_factory.mktemp("tiny-models")
    dirs = save_tiny_llamas(root)
    return dirs[0], dirs[1]


@pytest.fixture(scope="session")
def recipes(tiny_dirs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("recipes")
    a, b = tiny_dirs
    out = {}
    for name, text in (("single", SINGLE.format(a=a)), ("ensemble", ENSEMBLE.format(a=a, b=b))):
        out[name] = root / f"{name}.yaml"
        out[name].write_text(text)
    return out


@pytest.fixture(scope="session")
def duo(recipes: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The two-member ensemble recipe, no API key."""
    server = launch(recipes["ensemble"], tmp_path_factory.mktemp("logs") / "duo.log", "--max-tokens-cap", "64")
    yield server
    assert server.stop(signal.SIGTERM) == 0, server.output()


@pytest.fixture(scope="session")
def solo(recipes: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The single-model recipe, no API key."""
    server = launch(recipes["single"], tmp_path_factory.mktemp("logs") / "solo.log")
    yield server
    assert server.stop(signal.SIGTERM) == 0, server.output()
