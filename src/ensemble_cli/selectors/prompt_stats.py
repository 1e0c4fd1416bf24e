"""How sure a model is about a prompt: its perplexity and mean max-probability over the prompt tokens.

Both come from one teacher-forced pass (``Generator.score_tokens``) over the prompt exactly as the
model will see it when it generates: chat-templated, generation prompt added, in the model's own
tokenizer (``Generator.encode_prompt``). The first token only conditions; every later token is
scored given the ones before it:

- ``perplexity = exp(-mean_i log p(t_i | t_<i))`` (lower: the prompt looks familiar),
- ``max_prob = mean_i max_v p(v | t_<i)`` (higher: the model is confident about what comes next).

Used by the ``zscore`` selector at request time and by ``ensemble calibrate`` for its reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.components import Generator
from ..core.types import Example, ScoreItem


@dataclass(frozen=True)
class PromptStats:
    perplexity: float
    max_prob: float


def prompt_stats(generator: Generator, examples: Sequence[Example]) -> list[PromptStats]:
    """One ``PromptStats`` per example, in order (one batched scoring call)."""
    items = []
    for ex in examples:
        ids = generator.encode_prompt(ex)
        items.append(ScoreItem(context_ids=ids[:1], target_ids=ids[1:]))
    out = []
    for scores in generator.score_tokens(items):
        if not scores.logprobs:  # a one-token prompt: nothing to be unsure about
            out.append(PromptStats(1.0, 1.0))
            continue
        max_prob = sum(math.exp(m) for m in scores.max_logprobs) / len(scores.max_logprobs)
        out.append(PromptStats(math.exp(-scores.mean), max_prob))
    return out
