"""Pairwise scorers: "is answer A better than answer B?" (LLM-Blender's PairRanker idea).

``PairwiseScorer`` is the interface the ``rank`` aggregator prefers: ``compare(pairs)`` returns,
for each ``(a, b)`` pair of candidates of the same example, P(a is better than b). It is still a
``Scorer``: ``score`` turns comparisons into pointwise scores (each candidate's mean win
probability against the others of its group, both orders asked), so a pairwise scorer also works
in ``best-of-n`` or ``reward``, at N(N-1) comparisons per group.

``judge`` is the built-in one: a member of the recipe (``member``, selected or not) reads a
comparison prompt and the answer is read off its next-token distribution, not sampled: with
``lA``/``lB`` the log-probs of the answer tokens for "A" and "B" (every single-token spelling, e.g.
``A`` and `` A``, summed), P(a better) = exp(lA) / (exp(lA) + exp(lB)). One teacher-forced
forward pass per comparison (``Generator.score_tokens`` with ``query_ids``), batched, no
generation. Position bias is real for small judges: ``rank`` asks both orders and averages.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence

from pydantic import Field

from ..core.components import Candidate, ComponentConfig, Member, Scorer
from ..core.types import Example, ScoreItem
from ..errors import Problem, UsageError

JUDGE_PROMPT = (
    "Which of the two responses below answers the question better? Judge correctness first, then "
    "helpfulness and clarity.\n\n"
    "Question:\n{question}\n\n"
    "Response A:\n{a}\n\n"
    "Response B:\n{b}\n\n"
    "Reply with a single letter, A or B."
)


class PairwiseScorer(Scorer):
    """A scorer that can compare two candidates of one example directly."""

    @abstractmethod
    def compare(self, pairs: Sequence[tuple[Candidate, Candidate]]) -> list[float]:
        """For each ``(a, b)``: P(a is better than b), in [0, 1]. Batched over all pairs."""

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        groups: dict[tuple[str, str], list[int]] = {}
        for i, c in enumerate(candidates):
            groups.setdefault((c.example.id, c.prefix), []).append(i)
        pairs = [(i, j) for idx in groups.values() for i in idx for j in idx if i != j]
        probs = self.compare([(candidates[i], candidates[j]) for i, j in pairs]) if pairs else []
        wins = [0.0] * len(candidates)
        count = [0] * len(candidates)
        for (i, j), p in zip(pairs, probs, strict=True):
            wins[i] += p
            wins[j] += 1.0 - p
            count[i] += 1
            count[j] += 1
        return [w / c if c else 0.5 for w, c in zip(wins, count, strict=True)]


class JudgeConfig(ComponentConfig):
    member: str = Field(min_length=1, description="the recipe member that judges (selected or not)")
    prompt: str = Field(JUDGE_PROMPT, description="user turn; fields {question}, {a}, {b}")
    answer_prefix: str = Field("", description="text the judge's reply starts with before the letter")
    choices: tuple[str, str] = Field(("A", "B"), description="the letters naming the first and second response")
    max_chars: int = Field(4000, gt=0, description="each response is cut to its last this many characters")


def _letter_ids(member: Member, letter: str) -> list[int]:
    """Every single-token spelling of ``letter`` (bare, after a space) in the judge's vocabulary."""
    ids = []
    for text in (letter, " " + letter):
        enc = member.generator.encode_text(text)
        if len(enc) == 1 and enc[0] not in ids:
            ids.append(enc[0])
    if not ids:
        raise UsageError(f"judge {member.name!r}: {letter!r} is not a single token in its vocabulary")
    return ids


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values)) if top > -math.inf else -math.inf


def first_wins(la: float, lb: float) -> float:
    """exp(la) / (exp(la) + exp(lb)) without overflow; 0.5 when the judge gives both no mass."""
    if la == lb == -math.inf:
        return 0.5
    d = la - lb
    if d >= 0:
        return 1.0 / (1.0 + math.exp(-d))
    e = math.exp(d)
    return e / (1.0 + e)


class JudgeScorer(PairwiseScorer):
    description = "pairwise: a member model is asked which of two answers is better (A/B next-token mass)"
    Config = JudgeConfig
    config: JudgeConfig

    @classmethod
    def recipe_problems(cls, config: ComponentConfig, models: Sequence[str]) -> list[Problem]:
        member = getattr(config, "member", "")
        if member in models:
            return []
        return [Problem("member", f"{member!r} is not a model of this recipe ({', '.join(models)})")]

    def bind(self, members: Sequence[Member]) -> None:
        if self.config.member not in [m.name for m in members]:
            names = ", ".join(m.name for m in members)
            raise UsageError(f"scorer 'judge': member {self.config.member!r} is not a member (members: {names})")
        super().bind(members)

    def _judge(self) -> Member:
        for m in self.members:
            if m.name == self.config.member:
                return m
        raise UsageError(f"scorer 'judge': member {self.config.member!r} is not bound (Scorer.bind)")

    def prompt_for(self, a: Candidate, b: Candidate) -> Example:
        cut = self.config.max_chars
        text = self.config.prompt.format(
            question=a.example.prompt, a=(a.prefix + a.segment.text)[-cut:], b=(b.prefix + b.segment.text)[-cut:]
        )
        return Example(a.example.id, [{"role": "user", "content": text}])

    def compare(self, pairs: Sequence[tuple[Candidate, Candidate]]) -> list[float]:
        if not pairs:
            return []
        judge = self._judge()
        gen = judge.generator
        first, second = (_letter_ids(judge, c) for c in self.config.choices)
        prefix = gen.encode_text(self.config.answer_prefix) if self.config.answer_prefix else []
        items = [ScoreItem(gen.encode_prompt(self.prompt_for(a, b)) + prefix, [], first + second) for a, b in pairs]
        out = []
        for ts in gen.score_tokens(items):
            la, lb = _logsumexp(ts.query_logprobs[: len(first)]), _logsumexp(ts.query_logprobs[len(first) :])
            out.append(first_wins(la, lb))
        return out
