"""Two bench folders' ensembles head to head, on the problems both graded.

``bench summary`` compares each ensemble with its own members. The question after that is often
between two ensembles: does a mixed vote beat the best member's own self-consistency (Self-MoA,
arXiv 2502.00674)? Their accuracies side by side are not the answer: the two ran the same
problems, so the test is paired (exact McNemar on the problems only one of them got right) and the
interval is that of the paired difference, exactly as for the lift over a member. This module
reuses ``compare`` for it, with the second folder's ensemble in the member's place.

What is compared: the problems both ensembles have a graded record for (a partial folder adds only
its finished ones), with the same prompt (the same id with another prompt is two benches of other
problems: an error naming the first such id). Cost is over those problems too: tokens sampled by
the compared records, and the wall time of the batches they ran in (every record carries its
batch's ``timing``), so two folders of different lengths are still priced on the same rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from .compare import compare
from .folders import BenchFolder, batch_seconds
from .stats import Accuracy, paired_difference_interval
from .tables import Table, interval, num, pct


@dataclass
class Versus:
    """Ensemble ``a`` against ensemble ``b`` (each labelled by its recipe, or its folder on a clash)."""

    a: str
    b: str
    a_folder: str
    b_folder: str
    problems: int
    a_accuracy: Accuracy
    b_accuracy: Accuracy
    difference: float  #: a's accuracy minus b's (fraction)
    difference_ci: tuple[float, float]  #: 95% Newcombe interval of the paired difference
    a_only: int  #: problems a got right and b wrong
    b_only: int
    p_value: float  #: exact McNemar, two-sided
    tokens_ratio: float | None  #: a's tokens sampled / b's, on the compared problems
    time_ratio: float | None  #: a's batch wall time / b's, on the batches of the compared problems
    a_unmatched: int  #: a's graded problems b has no record for
    b_unmatched: int

    def to_dict(self) -> dict[str, Any]:
        def clean(x: float | None) -> float | None:
            return None if x is None or math.isnan(x) else round(x, 6)

        return {
            "a": {"name": self.a, "folder": self.a_folder, **self.a_accuracy.to_dict()},
            "b": {"name": self.b, "folder": self.b_folder, **self.b_accuracy.to_dict()},
            "problems": self.problems,
            "difference": clean(self.difference),
            "difference_ci95": [clean(x) for x in self.difference_ci],
            "mcnemar": {"a_only": self.a_only, "b_only": self.b_only, "p_value": self.p_value},
            "tokens_a_over_b": clean(self.tokens_ratio),
            "time_a_over_b": clean(self.time_ratio),
            "not_compared": {"a_only_problems": self.a_unmatched, "b_only_problems": self.b_unmatched},
        }


def versus(a: BenchFolder, b: BenchFolder) -> Versus:
    """``a``'s ensemble against ``b``'s on the problems both ran (``UsageError`` when they share none)."""
    a_name, b_name = a.ensemble_name, b.ensemble_name
    if a_name == b_name:
        a_name, b_name = a.label, b.label
    if a_name == b_name:
        raise UsageError(f"{a.label} against itself: give two different bench folders")
    a_prompts, b_prompts = a.problems(), b.problems()
    for rid in a_prompts:
        if rid in b_prompts and a_prompts[rid] != b_prompts[rid]:
            raise UsageError(
                f"bench folders {a.label} and {b.label} ran other problems under the same id: "
                f"problem {rid!r} has another prompt"
            )
    common = [rid for rid in a_prompts if rid in b_prompts]
    if not common:
        raise UsageError(f"bench folders {a.label} and {b.label} have no problem in common")
    keep = set(common)
    a_rows = [r for r in a.ensemble if str(r.get("id")) in keep]
    b_rows = [r for r in b.ensemble if str(r.get("id")) in keep]
    seconds = {a_name: batch_seconds(a_rows), b_name: batch_seconds(b_rows)}
    c = compare({b_name: b_rows}, a_rows, seconds, ensemble_name=a_name)
    a_acc, b_acc = c.ensemble.accuracy, c.members[0].accuracy
    both = a_acc.correct - c.ensemble_only
    neither = c.compared - both - c.ensemble_only - c.best_only
    cost = c.costs[a_name]
    return Versus(
        a=a_name,
        b=b_name,
        a_folder=a.label,
        b_folder=b.label,
        problems=c.compared,
        a_accuracy=a_acc,
        b_accuracy=b_acc,
        difference=c.lift,
        difference_ci=paired_difference_interval(both, c.ensemble_only, c.best_only, neither),
        a_only=c.ensemble_only,
        b_only=c.best_only,
        p_value=c.p_value,
        tokens_ratio=cost.tokens_ratio,
        time_ratio=cost.time_ratio,
        a_unmatched=len(a_prompts) - len(common),
        b_unmatched=len(b_prompts) - len(common),
    )


def versus_table(v: Versus) -> Table:
    """One row: both accuracies, the paired difference, McNemar, cost of a over b (short headers: A, B)."""
    low, high = v.difference_ci
    table = Table(
        f"A = {v.a} against B = {v.b}",
        ["n", "A [95% CI]", "B [95% CI]", "A − B [95% CI]", "McNemar p (A only / B only)", "tokens A/B", "time A/B"],
    )
    table.rows.append(
        [
            str(v.problems),
            f"{pct(v.a_accuracy.value)} {interval(v.a_accuracy)}",
            f"{pct(v.b_accuracy.value)} {interval(v.b_accuracy)}",
            f"{100 * v.difference:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]",
            f"{v.p_value:.3g} ({v.a_only}/{v.b_only})",
            num(v.tokens_ratio, 2, "×"),
            num(v.time_ratio, 2, "×"),
        ]
    )
    table.notes = [
        f"A: {v.a_folder}; B: {v.b_folder}; accuracies with 95% Wilson intervals, on the problems both graded",
        "A − B: in accuracy points, with the 95% Newcombe interval of the paired difference; McNemar: exact "
        "two-sided p on the problems only one of them got right",
        "tokens, time: A's tokens sampled and batch wall time over B's, on the compared problems",
    ]
    if v.a_unmatched or v.b_unmatched:
        table.notes.append(f"not compared: {v.a_unmatched} problems only A has, {v.b_unmatched} only B has")
    return table
