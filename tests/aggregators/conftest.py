"""Aggregator test fixtures: two tiny random-weight members with the real tokenizers."""

from __future__ import annotations

import pytest

from ensemble_cli.core.components import Member
from tiny_models import make_generator, tiny_gemma3, tiny_llama


@pytest.fixture(scope="session")
def tiny_members() -> list[Member]:
    """A tiny Llama (SmolLM2 tokenizer) and a tiny Gemma-3 (Gemma tokenizer)."""
    return [
        Member("llama", make_generator(*tiny_llama(), "llama")),
        Member("gemma", make_generator(*tiny_gemma3(), "gemma")),
    ]
