"""The ``prm`` scorer: process reward models of the Qwen2.5-Math-PRM family.

The input is laid out as the model card requires, through the PRM's own chat template::

    system:    config.system_prompt  ("Please reason step by step, ...")
    user:      the example's question (``Example.prompt``)
    assistant: step_1 <extra_0> step_2 <extra_0> ... step_k <extra_0>

The response (the candidate's prefix plus its text: a partial answer in segment-level methods,
a whole one in response-level methods) is split into steps on ``step_delimiter`` (``"\\n\\n"``);
steps are stripped, empty ones dropped, and a response with no text becomes one empty step. A
step's reward is P(positive) = softmax(logits)[positive_label] of the 2-class token head at its
separator token. Step rewards are aggregated by ``last`` (the default: the reward at the final
separator judges the whole chain), ``min``, ``mean`` or ``prod``.

Too long for ``max_length``: tokens after the last separator (the template's end-of-turn) are
dropped first (a causal PRM's logits at a separator never depend on later tokens), then the
context is cut from the *left*, so the last separator is always kept. Steps whose separators fall
off the left are not scored (``min``/``mean``/``prod`` then cover the kept steps only).

Loading: ``AutoModelForTokenClassification`` (any ``...ForTokenClassification`` with 2 labels),
or, for checkpoints that ship their own head as ``auto_map.AutoModel`` (Qwen2.5-Math-PRM's
``Qwen2ForProcessRewardModel``, needs ``trust_remote_code: true``), ``AutoModel``; the logits are
read from ``outputs.logits`` or ``outputs[0]`` (batch, tokens, 2) either way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from ..core.components import Candidate, Scorer
from ..errors import GenerationError, ModelLoadError
from .hf_models import ScoringModel, ScoringModelConfig, chat_text, limit, load_scoring_model

QWEN_PRM_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


class PRMConfig(ScoringModelConfig):
    model: str = Field("Qwen/Qwen2.5-Math-PRM-7B", description="HF hub id or local folder of the PRM")
    aggregate: Literal["last", "min", "mean", "prod"] = Field("last", description="how step rewards combine")
    system_prompt: str = QWEN_PRM_SYSTEM
    step_delimiter: str = Field("\n\n", min_length=1, description="splits the response into steps")
    step_separator: str = Field("<extra_0>", min_length=1, description="the token after each step")
    positive_label: int = Field(1, ge=0, description="index of the 'correct step' class")


@dataclass
class PRMInput:
    """What the PRM sees for one candidate: token ids and where the scored separators are."""

    ids: list[int]
    separators: list[int]  #: positions in ``ids`` of the separators that are scored
    steps: int  #: steps in the response (separators before truncation)


def split_steps(response: str, delimiter: str, separator: str) -> list[str]:
    """Non-empty stripped steps (at least one, maybe empty); separator text inside a step is removed."""
    steps = [s.replace(separator, "").strip() for s in response.split(delimiter)]
    steps = [s for s in steps if s]
    return steps or [""]


def aggregate(rewards: Sequence[float], how: str) -> float:
    """Combine step rewards (probabilities) into one score."""
    if not rewards:
        return float("nan")
    if how == "last":
        return rewards[-1]
    if how == "min":
        return min(rewards)
    if how == "mean":
        return sum(rewards) / len(rewards)
    return math.prod(rewards)


class PRMScorer(Scorer):
    description = "process reward model (Qwen2.5-Math-PRM layout): P(correct) at each step separator"
    Config = PRMConfig
    config: PRMConfig

    @property
    def loaded(self) -> ScoringModel:
        return load_scoring_model("prm", self.config, self._auto_class, self.pool)

    def _auto_class(self) -> Any:
        from transformers import AutoConfig, AutoModel, AutoModelForTokenClassification

        from ..models.hub import hub_source

        cfg = self.config
        source = hub_source(cfg.model, cfg.revision)  # the cached snapshot when the hub is unreachable
        try:
            hf = AutoConfig.from_pretrained(source, revision=cfg.revision, trust_remote_code=cfg.trust_remote_code)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load PRM config '{cfg.model}': {exc}") from exc
        auto_map = getattr(hf, "auto_map", None) or {}
        if "AutoModel" in auto_map and "AutoModelForTokenClassification" not in auto_map:
            return AutoModel
        return AutoModelForTokenClassification

    def separator_id(self) -> int:
        tok = self.loaded.tokenizer
        ids = tok.encode(self.config.step_separator, add_special_tokens=False)
        if len(ids) != 1:
            raise ModelLoadError(
                f"the PRM tokenizer has no single token for step separator {self.config.step_separator!r} "
                f"(it encodes to {len(ids)} tokens)"
            )
        return int(ids[0])

    def inputs(self, candidates: Sequence[Candidate]) -> list[PRMInput]:
        """The exact token layout the PRM sees for each candidate (after truncation)."""
        loaded, cfg = self.loaded, self.config
        tok, sep_id, max_len = loaded.tokenizer, self.separator_id(), limit(cfg, loaded)
        out = []
        for c in candidates:
            steps = split_steps(c.prefix + c.segment.text, cfg.step_delimiter, cfg.step_separator)
            messages = [
                {"role": "system", "content": cfg.system_prompt},
                {"role": "user", "content": c.example.prompt},
                {"role": "assistant", "content": cfg.step_separator.join(steps) + cfg.step_separator},
            ]
            text = chat_text(loaded, messages, "PRM")
            ids = list(tok.encode(text, add_special_tokens=False))
            if max_len is not None and len(ids) > max_len:
                last = max(i for i, t in enumerate(ids) if t == sep_id)
                ids = ids[: last + 1][-max_len:]
            out.append(PRMInput(ids, [i for i, t in enumerate(ids) if t == sep_id], len(steps)))
        return out

    def step_rewards(self, candidates: Sequence[Candidate]) -> list[list[float]]:
        """P(positive) at each scored separator, per candidate."""
        import torch

        items = self.inputs(candidates)
        loaded = self.loaded
        pad = loaded.tokenizer.pad_token_id
        pad = int(pad) if pad is not None else 0
        order = sorted(range(len(items)), key=lambda i: len(items[i].ids))
        rewards: list[list[float]] = [[] for _ in items]
        size = self.config.forward_batch()
        for start in range(0, len(order), size):
            chunk = order[start : start + size]
            width = max(len(items[i].ids) for i in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):  # right padding: positions stay those of the unpadded input
                n = len(items[i].ids)
                ids[row, :n] = torch.tensor(items[i].ids)
                mask[row, :n] = 1
            with torch.inference_mode():
                out = loaded.model(input_ids=ids.to(loaded.device), attention_mask=mask.to(loaded.device))
            logits = out.logits if hasattr(out, "logits") else out[0]
            if logits.dim() != 3 or logits.shape[-1] <= self.config.positive_label:
                raise GenerationError(f"PRM '{self.config.model}' returned logits of shape {tuple(logits.shape)}")
            probs = logits.float().softmax(-1)[..., self.config.positive_label].cpu()
            for row, i in enumerate(chunk):
                rewards[i] = [float(probs[row, p]) for p in items[i].separators]
        return rewards

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        if not candidates:
            return []
        return [aggregate(r, self.config.aggregate) for r in self.step_rewards(candidates)]
