"""The ``vote`` scorer: majority voting on final answers (self-consistency), as a score.

Each candidate's final answer is extracted with ``ensemble_cli.answers`` (the last ``\\boxed{}``,
else a GSM8K ``####`` line, else what math-verify finds: numbers, fractions, LaTeX) from its whole
response (prefix plus text), and its score is the number of *other* candidates of the same group
(same example and prefix) whose answer is equivalent under math-verify (``1/2`` = ``0.5`` =
``\\frac{1}{2}``). So the best-scored candidate carries the most common answer; ties go to the
aggregator's tie rule (``best-of-n``: an ended answer beats a cut-off one, then ``tie_break``). A
candidate with no answer scores ``missing`` (-1 by default: below an answer nobody shares, since a
missing answer never agrees with anything, not even another missing one), so it never wins a vote
that any answer takes part in.

``weights`` makes it a weighted vote: a member's candidates count ``weights[member]`` (default 1)
each, and the score is the total weight of the candidates reaching this answer, itself included,
minus one. Unweighted, that is the number of others that agree; weighted, a stronger member's two
agreeing samples can outvote three agreeing samples of a weaker one (weights 1.6 and 1: 3.2 > 3).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field, PositiveFloat

from ..answers import Answer, extract_answer, same_answer
from ..core.components import Candidate, ComponentConfig, Scorer
from ..errors import Problem


class VoteConfig(ComponentConfig):
    missing: float = Field(-1.0, allow_inf_nan=True, description="score of a candidate with no final answer")
    weights: dict[str, PositiveFloat] = Field(
        default_factory=dict, description="vote weight per member name (default 1 each): a weighted vote"
    )


def agreeing_sets(answers: Sequence[Answer | None]) -> list[set[int]]:
    """For each answer, the indices of the *other* answers equivalent to it (``None`` agrees with nothing)."""
    n = len(answers)
    agree: list[set[int]] = [set() for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            a, b = answers[i], answers[j]
            if a is None or b is None:
                continue
            if a.text == b.text or same_answer(a, b):
                agree[i].add(j)
                agree[j].add(i)
    return agree


def agreement(answers: Sequence[Answer | None]) -> list[int]:
    """For each answer, how many of the others are equivalent to it (``None`` agrees with nothing)."""
    return [len(s) for s in agreeing_sets(answers)]


class VoteScorer(Scorer):
    description = "how many other candidates reach an equivalent final answer (math-verify)"
    Config = VoteConfig
    config: VoteConfig

    @classmethod
    def recipe_problems(cls, config: ComponentConfig, models: Sequence[str]) -> list[Problem]:
        """Weights are keyed by model names of the recipe."""
        assert isinstance(config, VoteConfig)
        return [Problem(f"weights.{name}", f"{name!r} is not a model of this recipe ({', '.join(models)})")
                for name in config.weights if name not in models]

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        groups: dict[tuple[str, str], list[int]] = {}
        for i, c in enumerate(candidates):
            groups.setdefault((c.example.id, c.prefix), []).append(i)
        answers = [extract_answer(c.prefix + c.segment.text) for c in candidates]
        weight = [float(self.config.weights.get(c.member, 1.0)) for c in candidates]
        scores = [0.0] * len(candidates)
        for idx in groups.values():
            for i, agreeing in zip(idx, agreeing_sets([answers[i] for i in idx]), strict=True):
                if answers[i] is None:
                    scores[i] = self.config.missing
                else:
                    scores[i] = weight[i] + sum(weight[idx[j]] for j in agreeing) - 1.0
        return scores
