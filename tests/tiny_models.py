"""Tiny random-weight models built with the *real* tokenizers of the offline default models.

The tokenizers come from the converted cache when it exists, else straight from the GGUF files the
weight packages ship (no conversion, a few seconds). Weights are random but seeded, so greedy
outputs are deterministic; the models are small enough to run a session test in milliseconds.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import torch


@functools.cache
def real_tokenizer(alias: str) -> Any:
    from transformers import AutoTokenizer

    from ensemble_cli.models import get_alias

    a = get_alias(alias)
    assert a is not None
    if a.package_dir() is None:
        pytest.skip(f"weight package {a.package} is not installed")
    done = a.converted_dir()
    if done is not None:
        return AutoTokenizer.from_pretrained(str(done))
    gguf = a.locate_gguf(a.package_dir())
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def tiny_llama(seed: int = 0, tie_word_embeddings: bool = True) -> tuple[Any, Any]:
    """SmolLM2's tokenizer on a 2-layer Llama. Tied embeddings (as SmolLM2) make a random model echo
    its input token; untie them for two models that disagree."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = real_tokenizer("smollm2-135m-instruct")
    cfg = LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        tie_word_embeddings=tie_word_embeddings,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg).eval()
    return model, tok


def save_tiny_llamas(root: Path, seeds: tuple[int, ...] = (0, 1), **kwargs: Any) -> list[Path]:
    """``tiny_llama(seed)`` for each seed saved as an HF folder under ``root`` (for recipes and CLIs)."""
    folders = []
    for seed in seeds:
        model, tok = tiny_llama(seed, **kwargs)
        folder = root / f"llama-{seed}"
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
        folders.append(folder)
    return folders


def tiny_gemma3(seed: int = 0, sliding_window: int = 16) -> tuple[Any, Any]:
    """Gemma-3 text model with a *small* sliding window, so tests cross it."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    tok = real_tokenizer("gemma3-270m")
    cfg = Gemma3TextConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=3,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=2048,
        sliding_window=sliding_window, layer_types=["sliding_attention", "sliding_attention", "full_attention"],
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Gemma3ForCausalLM(cfg).eval()
    return model, tok


def make_generator(model: Any, tok: Any, name: str = "tiny", **params: Any) -> Any:
    """An ``HFGenerator`` whose pool already holds ``model`` (nothing is loaded from disk)."""
    from ensemble_cli.core.pool import ModelPool, spec_key
    from ensemble_cli.generators.hf import HFConfig, HFGenerator, LoadedModel

    cfg = HFConfig(model=f"tiny-{name}", dtype="float32", **params)
    pool = ModelPool()
    pool.get(spec_key("hf", cfg), lambda: LoadedModel(model, tok, f"tiny-{name}"))
    return HFGenerator(cfg, pool)
