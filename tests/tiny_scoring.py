"""Tiny random-weight scoring models (PRM, reward model) with the real SmolLM2 tokenizer.

The PRM gets Qwen2.5-Math-PRM's step separator ``<extra_0>`` added as a special token; the models
are put into a fresh ModelPool under the key the scorer looks up, so the scorers' real loading
path is bypassed but every other line of their code runs.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from ensemble_cli.core.pool import ModelPool
from ensemble_cli.scorers.hf_models import ScoringModel, model_key
from tiny_models import real_tokenizer


def smol_tokenizer(extra: tuple[str, ...] = ()) -> Any:
    tok = copy.deepcopy(real_tokenizer("smollm2-135m-instruct"))
    if extra:
        tok.add_special_tokens({"additional_special_tokens": list(extra)})
    return tok


def _qwen2_config(tok: Any, **kw: Any) -> Any:
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
        pad_token_id=tok.pad_token_id, **kw,
    )


def tiny_prm(seed: int = 0) -> tuple[Any, Any]:
    from transformers import Qwen2ForTokenClassification

    tok = smol_tokenizer(("<extra_0>",))
    torch.manual_seed(seed)
    return Qwen2ForTokenClassification(_qwen2_config(tok, num_labels=2)).eval(), tok


def tiny_reward_model(seed: int = 0) -> tuple[Any, Any]:
    from transformers import LlamaConfig, LlamaForSequenceClassification

    tok = smol_tokenizer()
    cfg = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512, num_labels=1,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForSequenceClassification(cfg).eval(), tok


def pooled(scorer: Any, head: str, model: Any, tok: Any) -> Any:
    """``scorer`` with a private pool that already holds ``model`` under the key it will look up."""
    pool = ModelPool()
    pool.get(model_key(head, scorer.config), lambda: ScoringModel(model, tok))
    scorer.pool = pool
    return scorer
