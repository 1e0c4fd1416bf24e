"""The two statistics a results table needs: a 95% Wilson interval for an accuracy, and an exact
McNemar test for "did system A beat system B on the same problems".

Both come from scipy (``binomtest``), not hand-written formulas. Wilson rather than the normal
approximation because benchmark sizes are small (30 AIME problems) and accuracies sit near 0 or 1,
where the normal interval leaves [0, 1] and undercovers. McNemar is the *exact* (binomial) form:
with a few dozen discordant pairs the chi-square approximation is unreliable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def wilson_interval(correct: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of ``correct / total``; ``(nan, nan)`` when ``total`` is 0 (no data)."""
    if total < 0 or not 0 <= correct <= total:
        raise ValueError(f"need 0 <= correct <= total, got {correct}/{total}")
    if total == 0:
        return (math.nan, math.nan)
    from scipy.stats import binomtest  # ~1 s to import: only when a table is really computed

    ci = binomtest(correct, total).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs.

    ``a_only``: problems A got right and B wrong; ``b_only``: the reverse. Concordant pairs carry
    no information about the difference. No discordant pairs at all gives p = 1.
    """
    if a_only < 0 or b_only < 0:
        raise ValueError("discordant counts must be non-negative")
    n = a_only + b_only
    if n == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(min(a_only, b_only), n, 0.5).pvalue)


@dataclass(frozen=True)
class Accuracy:
    """``correct`` of ``total`` with its Wilson interval (``nan`` bounds and value when empty)."""

    correct: int
    total: int
    low: float
    high: float

    @classmethod
    def of(cls, correct: int, total: int) -> Accuracy:
        low, high = wilson_interval(correct, total)
        return cls(correct, total, low, high)

    @property
    def value(self) -> float:
        return self.correct / self.total if self.total else math.nan

    def to_dict(self) -> dict[str, float | int | None]:
        def clean(x: float) -> float | None:
            return None if math.isnan(x) else round(x, 6)

        return {
            "correct": self.correct,
            "total": self.total,
            "accuracy": clean(self.value),
            "ci95": [clean(self.low), clean(self.high)],
        }
