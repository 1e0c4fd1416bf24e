"""Shared tiny members and helper scorers for the response-level aggregator tests."""

from __future__ import annotations

from collections.abc import Sequence

from ensemble_cli.core.components import Candidate, Scorer
from ensemble_cli.core.types import Example
from ensemble_cli.scorers.pairwise import PairwiseScorer

EXAMPLES = [
    Example("q1", [{"role": "user", "content": "What is 7 times 8?"}]),
    Example("q2", [{"role": "user", "content": "Tell me about the moon."}]),
    Example("q3", [{"role": "user", "content": "List three fruits."}]),
]


class LengthScorer(Scorer):
    """Longer text is better (a pointwise scorer with a known winner); records what it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[list[Candidate]] = []

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        self.seen.append(list(candidates))
        return [float(len(c.segment.text)) for c in candidates]


class LongerWins(PairwiseScorer):
    """Pairwise: P(a better) = 0.9 when a is longer, 0.1 when shorter, 0.5 on a tie; counts comparisons."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0
        self.texts: dict[str, set[str]] = {}  #: example id -> every answer text compared

    def compare(self, pairs: Sequence[tuple[Candidate, Candidate]]) -> list[float]:
        self.asked += len(pairs)
        out = []
        for a, b in pairs:
            assert a.example.id == b.example.id
            self.texts.setdefault(a.example.id, set()).update({a.segment.text, b.segment.text})
            la, lb = len(a.segment.text), len(b.segment.text)
            out.append(0.9 if la > lb else 0.1 if la < lb else 0.5)
        return out
