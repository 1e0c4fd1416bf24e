"""The ``vote`` scorer: majority voting on final answers (self-consistency), as a score.

Each candidate's final answer is extracted with ``ensemble_cli.answers`` (the last ``\\boxed{}``,
else a GSM8K ``####`` line, else what math-verify finds: numbers, fractions, LaTeX) from its whole
response (prefix plus text), and its score is the number of *other* candidates of the same group
(same example and prefix) whose answer is equivalent under math-verify (``1/2`` = ``0.5`` =
``\\frac{1}{2}``). So the best-scored candidate carries the most common answer; ties go to the
aggregator's tie rule (the first member). A candidate with no answer scores ``missing`` (-1 by
default: below an answer nobody shares, since a missing answer never agrees with anything, not
even another missing one).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from ..answers import Answer, extract_answer, same_answer
from ..core.components import Candidate, ComponentConfig, Scorer


class VoteConfig(ComponentConfig):
    missing: float = Field(-1.0, allow_inf_nan=True, description="score of a candidate with no final answer")


def agreement(answers: Sequence[Answer | None]) -> list[int]:
    """For each answer, how many of the others are equivalent to it (``None`` agrees with nothing)."""
    n = len(answers)
    agree = [0] * n
    for i in range(n):
        for j in range(i + 1, n):
            a, b = answers[i], answers[j]
            if a is None or b is None:
                continue
            if a.text == b.text or same_answer(a, b):
                agree[i] += 1
                agree[j] += 1
    return agree


class VoteScorer(Scorer):
    description = "how many other candidates reach an equivalent final answer (math-verify)"
    Config = VoteConfig
    config: VoteConfig

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        groups: dict[tuple[str, str], list[int]] = {}
        for i, c in enumerate(candidates):
            groups.setdefault((c.example.id, c.prefix), []).append(i)
        answers = [extract_answer(c.prefix + c.segment.text) for c in candidates]
        scores = [0.0] * len(candidates)
        for idx in groups.values():
            for i, n in zip(idx, agreement([answers[i] for i in idx]), strict=True):
                scores[i] = float(n) if answers[i] is not None else self.config.missing
        return scores
