"""The ``reward-model`` scorer: scalar reward models (``AutoModelForSequenceClassification``).

Each candidate is scored as the conversation the reward model was trained on: the example's
messages, then an assistant turn holding the response (the candidate's prefix plus its text),
through the reward model's own chat template (``add_generation_prompt=False``). The score is the
logit ``label`` (0: the single output of a scalar reward model) at the sequence's last token.

Batching: inputs are left-padded and fed as embeddings with explicit position ids, so the model's
pooling takes the last position, which is always the real last token. Pooling on ``input_ids``
instead would look for the last non-pad token, which is wrong whenever the pad token is the
template's own end-of-turn token (pad = eos is common). Too long for ``max_length``: the context
is cut from the left (the response's end is what the reward model reads last).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from ..core.components import Candidate, Scorer
from .hf_models import ScoringModel, ScoringModelConfig, chat_text, limit, load_scoring_model


class RewardModelConfig(ScoringModelConfig):
    label: int = Field(0, ge=0, description="which output logit is the reward")


class RewardModelScorer(Scorer):
    description = "scalar reward model (sequence classification) on the chat-templated conversation"
    Config = RewardModelConfig
    config: RewardModelConfig

    @property
    def loaded(self) -> ScoringModel:
        def auto() -> Any:
            from transformers import AutoModelForSequenceClassification

            return AutoModelForSequenceClassification

        loaded = load_scoring_model("sequence-classification", self.config, auto, self.pool)
        text_cfg = loaded.model.config.get_text_config()
        if text_cfg.pad_token_id is None:  # batching needs one defined (padding is masked anyway)
            text_cfg.pad_token_id = loaded.tokenizer.pad_token_id or loaded.tokenizer.eos_token_id or 0
        return loaded

    def inputs(self, candidates: Sequence[Candidate]) -> list[list[int]]:
        """The exact token ids the reward model sees for each candidate."""
        loaded = self.loaded
        tok, max_len = loaded.tokenizer, limit(self.config, loaded)
        out = []
        for c in candidates:
            messages = [*c.example.messages, {"role": "assistant", "content": c.prefix + c.segment.text}]
            text = chat_text(loaded, messages, "reward model")
            ids = list(tok.encode(text, add_special_tokens=False))
            out.append(ids[-max_len:] if max_len is not None else ids)
        return out

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        import torch

        if not candidates:
            return []
        items = self.inputs(candidates)
        loaded = self.loaded
        embed = loaded.model.get_input_embeddings()
        order = sorted(range(len(items)), key=lambda i: len(items[i]))
        scores = [0.0] * len(items)
        size = self.config.forward_batch()
        for start in range(0, len(order), size):
            chunk = order[start : start + size]
            width = max(len(items[i]) for i in chunk)
            ids = torch.zeros((len(chunk), width), dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                n = len(items[i])
                ids[row, width - n :] = torch.tensor(items[i])
                mask[row, width - n :] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            dev = loaded.device
            with torch.inference_mode():
                out = loaded.model(
                    inputs_embeds=embed(ids.to(dev)), attention_mask=mask.to(dev), position_ids=positions.to(dev)
                )
            logits = out.logits.float().cpu()
            for row, i in enumerate(chunk):
                scores[i] = float(logits[row, self.config.label])
        return scores
