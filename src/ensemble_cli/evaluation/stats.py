"""The statistics a results table needs: a 95% Wilson interval for an accuracy, an exact McNemar
test for "did system A beat system B on the same problems", and a 95% interval for how much (the
paired difference of the two accuracies, Newcombe's hybrid score interval).

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


def paired_difference_interval(
    both: int, a_only: int, b_only: int, neither: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Interval for ``accuracy(A) - accuracy(B)`` when A and B answered the same problems.

    The four counts are the paired 2×2 table: problems both got right, only A, only B, neither.
    Newcombe's hybrid score ("square-and-add") interval, method 10 of Newcombe (1998, Stat. Med.
    17:2635), in the form of Fagerland, Lydersen & Laake (*Statistical Analysis of Contingency
    Tables*, 2017, ch. 8): the two Wilson intervals of this module combined with the estimated
    correlation of the paired verdicts (a positive one shrunk by ``n/2``).

    Why this one: the simple Wald interval ``(b - c)/n ± z·se`` has zero width when there are no
    discordant pairs, leaves [-1, 1] and undercovers at the sizes a bench has (a few dozen
    discordant pairs); Newcombe's is closed form, rests on the same Wilson intervals as the
    accuracies beside it, and is among the intervals Fagerland, Lydersen & Laake (2014, BMC Med.
    Res. Methodol. 14:116) recommend for paired proportions. Tango's score interval covers about as
    well but needs a root search per bound. It is not the inversion of the exact McNemar test, so at
    the 5% margin the two can disagree (an interval that just excludes 0 beside p just above 0.05):
    report both. ``(nan, nan)`` when there are no problems.
    """
    counts = (both, a_only, b_only, neither)
    if min(counts) < 0:
        raise ValueError(f"paired counts must be non-negative, got {counts}")
    n = sum(counts)
    if n == 0:
        return (math.nan, math.nan)
    a_right, b_right = both + a_only, both + b_only
    p1, p2 = a_right / n, b_right / n
    l1, u1 = wilson_interval(a_right, n, confidence)
    l2, u2 = wilson_interval(b_right, n, confidence)
    margins = a_right * (n - a_right) * b_right * (n - b_right)
    phi = 0.0
    if margins > 0:
        det = both * neither - a_only * b_only
        if det > n / 2:
            phi = (det - n / 2) / math.sqrt(margins)
        elif det < 0:
            phi = det / math.sqrt(margins)
    d = p1 - p2
    low = d - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = d + math.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    return (max(-1.0, low), min(1.0, high))


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
