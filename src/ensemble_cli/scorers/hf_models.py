"""Loading the transformers models that scorers use (PRMs, reward models, sentence encoders).

A scorer's model is loaded once per process through the ModelPool, keyed by the head it needs
plus every option that changes the loaded weights (model, revision, dtype, device, remote code),
so two scorers with the same model share it and the ``max_length``/``batch_size`` knobs do not
cause a reload. Tests put tiny random-weight models into a pool under ``model_key`` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from ..core.components import ComponentConfig
from ..core.invariance import batch_invariant
from ..core.pool import ModelPool, default_pool, spec_key
from ..errors import ModelLoadError


class ScoringModelConfig(ComponentConfig):
    """Options shared by scorers that load their own transformers model."""

    model: str = Field(description="HF hub id or local folder")
    dtype: Literal["bfloat16", "float16", "float32", "auto"] = "bfloat16"
    device: str = Field("cpu", description="torch device: cpu, cuda, cuda:1, mps")
    revision: str | None = None
    trust_remote_code: bool = False
    max_length: int | None = Field(None, gt=1, description="longest input in tokens (default: the model's)")
    batch_size: int = Field(8, gt=0, description="inputs per forward pass")

    def forward_batch(self) -> int:
        """Inputs per forward pass now: one under ``generation.batch_invariant`` (a padded batch changes
        the kernels' reduction order, so each input is scored exactly as it is alone), else ``batch_size``."""
        return 1 if batch_invariant() else self.batch_size


@dataclass
class ScoringModel:
    """A model and its tokenizer as loaded once per process."""

    model: Any
    tokenizer: Any

    @property
    def max_positions(self) -> int | None:
        cfg = self.model.config
        cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
        return getattr(cfg, "max_position_embeddings", None)

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device


def model_key(head: str, config: ScoringModelConfig) -> str:
    """The pool key of the model a scorer with ``config`` uses under ``head`` (e.g. ``token-classification``)."""
    fields = ("model", "dtype", "device", "revision", "trust_remote_code")
    return spec_key(f"scorer-model:{head}", {f: getattr(config, f) for f in fields})


def load_scoring_model(
    head: str,
    config: ScoringModelConfig,
    auto_class: Callable[[], Any],
    pool: ModelPool | None = None,
    source: Callable[[str], str] = str,
) -> ScoringModel:
    """The (pooled) model for ``config`` built with ``auto_class()`` (an ``AutoModelFor...``), in eval mode.

    ``source`` maps ``config.model`` to what ``from_pretrained`` gets (an alias to its folder).
    """

    def load() -> ScoringModel:
        import torch

        from ..models.hub import hub_source
        from ..models.tokenizer_cache import load_tokenizer

        dtype = "auto" if config.dtype == "auto" else getattr(torch, config.dtype)
        kwargs = {"revision": config.revision, "trust_remote_code": config.trust_remote_code}
        try:
            path = hub_source(source(config.model), config.revision)  # fails fast with no hub
            tokenizer = load_tokenizer(path, **kwargs)
            model = auto_class().from_pretrained(path, dtype=dtype, **kwargs)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load {head} model '{config.model}': {exc}") from exc
        model.to(config.device)
        model.eval()
        return ScoringModel(model, tokenizer)

    return (pool or default_pool()).get(model_key(head, config), load)


def limit(config: ScoringModelConfig, loaded: ScoringModel) -> int | None:
    """The input length limit: the config's ``max_length``, else the model's position count."""
    return config.max_length or loaded.max_positions


def chat_text(loaded: ScoringModel, messages: list[dict[str, str]], what: str) -> str:
    """The conversation through the scoring model's own chat template (no generation prompt).

    A scoring model was trained on one exact layout, so there is no fallback: a tokenizer without a
    template is a load error naming the model, not a silent guess.
    """
    tok = loaded.tokenizer
    if not getattr(tok, "chat_template", None):
        raise ModelLoadError(f"the {what} tokenizer has no chat template: it cannot lay out the conversation")
    return str(tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=False))
