"""The ``judgment`` selector: ask each model whether it can solve the problem; keep the surest.

Each candidate model reads the request with its last user turn rewritten by ``question`` (the
original text in place of ``{prompt}``), chat-templated as it would generate, and we read its
next-token distribution (``Generator.score_tokens`` with ``query_ids``, no sampling):

    score_m = P(yes) / (P(yes) + P(no))

where ``P(yes)`` is the probability mass of the model's own single-token spellings of "yes"
(``yes``, ``Yes``, ``YES``, each with and without a leading space; a spelling its tokenizer splits
into several tokens is left out, since its first piece, e.g. ``Y``, is not an answer) and
likewise for "no". The ``top_k`` best-scoring models are kept (ties to recipe order; names in
recipe order). A tokenizer with no single-token "yes" or "no" cannot be asked: that is a
``GenerationError``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import Field, field_validator

from ..core.components import ComponentConfig, Generator, Member, Selector
from ..core.types import Example, ScoreItem
from ..errors import GenerationError, Problem

DEFAULT_QUESTION = (
    "{prompt}\n\nDo not solve it yet. Can you solve this problem correctly? Answer with yes or no."
)
YES = ("yes", "Yes", "YES")
NO = ("no", "No", "NO")


def answer_ids(generator: Generator, words: Sequence[str]) -> list[int]:
    """The distinct single-token ids of ``words`` and their leading-space variants, in that tokenizer."""
    ids: list[int] = []
    for word in words:
        for variant in (word, " " + word):
            enc = generator.encode_text(variant)
            if len(enc) == 1 and generator.decode_ids(enc) == variant and enc[0] not in ids:
                ids.append(enc[0])
    return ids


def judge_example(example: Example, question: str) -> Example:
    """``example`` with its last user turn wrapped in ``question``."""
    messages = [dict(m) for m in example.messages]
    last = max(i for i, m in enumerate(messages) if m["role"] == "user")
    messages[last]["content"] = question.replace("{prompt}", messages[last]["content"])
    return Example(example.id, messages, example.label, dict(example.meta))


def yes_probability(generator: Generator, examples: Sequence[Example], question: str) -> list[float]:
    """``score_m`` of the module docstring for each example (one batched scoring call)."""
    yes, no = answer_ids(generator, YES), answer_ids(generator, NO)
    if not yes or not no:
        raise GenerationError("the tokenizer has no single-token 'yes'/'no'; the judgment selector cannot ask it")
    items = [ScoreItem(generator.encode_prompt(judge_example(ex, question)), [], yes + no) for ex in examples]
    out = []
    for scores in generator.score_tokens(items):
        p_yes = sum(math.exp(lp) for lp in scores.query_logprobs[: len(yes)])
        p_no = sum(math.exp(lp) for lp in scores.query_logprobs[len(yes) :])
        out.append(p_yes / (p_yes + p_no) if p_yes + p_no > 0 else 0.5)
    return out


class JudgmentConfig(ComponentConfig):
    top_k: int = Field(1, gt=0, description="how many models to keep per request")
    question: str = Field(DEFAULT_QUESTION, description="the self-assessment prompt; {prompt} is the request")

    @field_validator("question")
    @classmethod
    def _has_prompt(cls, value: str) -> str:
        if "{prompt}" not in value:
            raise ValueError("must contain {prompt} (where the request goes)")
        return value


class JudgmentSelector(Selector):
    description = "asks each model if it can solve the request; keeps the top-k by P(yes)"
    Config = JudgmentConfig
    config: JudgmentConfig

    @classmethod
    def recipe_problems(cls, config: ComponentConfig, models: Sequence[str]) -> list[Problem]:
        assert isinstance(config, JudgmentConfig)
        if config.top_k > len(models):
            return [Problem("top_k", f"top_k={config.top_k} but the recipe has only {len(models)} model(s)")]
        return []

    def select(self, examples: Sequence[Example], members: Sequence[Member]) -> list[list[str]]:
        names = [m.name for m in members]
        scores = {m.name: yes_probability(m.generator, examples, self.config.question) for m in members}
        out = []
        for i in range(len(examples)):
            ranked = sorted(names, key=lambda n: (-scores[n][i], names.index(n)))
            chosen = set(ranked[: self.config.top_k])
            out.append([n for n in names if n in chosen])
        return out
