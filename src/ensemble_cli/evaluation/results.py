"""One results row per bench folder: the table ``docs/results.md`` is made of.

Each row says, for one recipe: every member's accuracy, the ensemble's with its 95% Wilson
interval, the oracle, the lift over the best member with a 95% interval of the *paired* difference
(``stats.paired_difference_interval``: the same problems, so the two accuracies are not
independent), the exact McNemar p with its discordant counts, tokens and time as multiples of the
best member, who wrote the output, the share of rows a cascade escalated (when the records say),
and the command that reproduces the row (``bench.json`` ``command``).

Escalation is read from the ensemble's records: ``summary.escalated`` (a bool, per row), the
method-specific ``summary`` block of the record format (``io.records``). Rows that do not carry it
are not counted; a recipe whose records never carry it shows ``-``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .folders import BenchFolder
from .stats import Accuracy, paired_difference_interval
from .tables import Table, interval, num, pct


@dataclass
class ResultRow:
    """The figures of one bench folder (all over the problems every system was graded on)."""

    folder: str
    recipe: str
    problems: int
    members: list[tuple[str, Accuracy]]
    best: str
    ensemble: Accuracy
    oracle: Accuracy
    lift: float
    lift_ci: tuple[float, float]
    ensemble_only: int
    best_only: int
    p_value: float
    tokens_ratio: float | None
    time_ratio: float | None
    shares: dict[str, float]  #: empty when the records attribute nothing
    escalated: Accuracy | None  #: escalated rows of those that say; None when none say
    command: str | None
    time_span: str | None = None  #: the problems time× covers, when not all (``--time-over``)

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "recipe": self.recipe,
            "problems": self.problems,
            "members": [{"name": name, **acc.to_dict()} for name, acc in self.members],
            "best_member": self.best,
            "ensemble": self.ensemble.to_dict(),
            "oracle": self.oracle.to_dict(),
            "lift": round(self.lift, 6),
            "lift_ci95": [None if math.isnan(x) else round(x, 6) for x in self.lift_ci],
            "mcnemar": {"ensemble_only": self.ensemble_only, "best_only": self.best_only, "p_value": self.p_value},
            "tokens_vs_best": _r(self.tokens_ratio),
            "time_vs_best": _r(self.time_ratio),
            "time_over": self.time_span,
            "attributed_share": {k: round(v, 6) for k, v in self.shares.items()},
            "escalated": None if self.escalated is None else self.escalated.to_dict(),
            "command": self.command,
        }


def result_row(folder: BenchFolder) -> ResultRow:
    """The row of one bench folder."""
    c = folder.comparison
    ens = c.ensemble.accuracy
    both = ens.correct - c.ensemble_only
    neither = c.compared - both - c.ensemble_only - c.best_only
    cost = c.costs[c.ensemble.name]
    return ResultRow(
        folder=folder.label,
        recipe=folder.recipe,
        problems=c.compared,
        members=[(m.name, m.accuracy) for m in c.members],
        best=c.best,
        ensemble=ens,
        oracle=c.oracle,
        lift=c.lift,
        lift_ci=paired_difference_interval(both, c.ensemble_only, c.best_only, neither),
        ensemble_only=c.ensemble_only,
        best_only=c.best_only,
        p_value=c.p_value,
        tokens_ratio=cost.tokens_ratio,
        time_ratio=cost.time_ratio,
        shares={k: v for k, v in c.shares.items() if v > 0 or k in folder.members} if any(c.shares.values()) else {},
        escalated=escalation(folder.ensemble),
        command=folder.command if not folder.partial else f"(partial: {folder.path} still running or interrupted)",
        time_span=folder.time_span,
    )


def escalation(records: Sequence[dict[str, Any]]) -> Accuracy | None:
    """How many rows were escalated, of those whose ``summary.escalated`` says (None: none say)."""
    said = [
        r["summary"]["escalated"]
        for r in records
        if isinstance(r.get("summary"), dict) and isinstance(r["summary"].get("escalated"), bool)
    ]
    return Accuracy.of(sum(said), len(said)) if said else None


RESULT_COLUMNS = [
    "recipe",
    "n",
    "members",
    "ensemble [95% CI]",
    "oracle",
    "lift [95% CI]",
    "McNemar p (ens/best)",
    "tokens×",
    "time×",
    "written by",
    "escalated",
    "command",
]


def results_table(rows: Sequence[ResultRow]) -> Table:
    """One row per bench folder, in the order given."""
    spans = {row.time_span for row in rows}
    columns = list(RESULT_COLUMNS)
    if spans != {None}:  # --time-over: one span for every row
        columns[columns.index("time×")] = f"time× ({' / '.join(sorted(str(s) for s in spans))})"
    table = Table("bench results", columns)
    for row in rows:
        low, high = row.lift_ci
        table.rows.append(
            [
                row.recipe,
                str(row.problems),
                "; ".join(f"{name}{'*' if name == row.best else ''} {pct(acc.value)}" for name, acc in row.members),
                f"{pct(row.ensemble.value)} {interval(row.ensemble)}",
                pct(row.oracle.value),
                f"{100 * row.lift:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]",
                f"{row.p_value:.3g} ({row.ensemble_only}/{row.best_only})",
                num(row.tokens_ratio, 2, "×"),
                num(row.time_ratio, 2, "×"),
                ", ".join(f"{name} {pct(share, 0)}" for name, share in row.shares.items()) or "-",
                pct(row.escalated.value) if row.escalated is not None else "-",
                row.command or "(not recorded: bench predates bench.json `command`)",
            ]
        )
    table.notes = [
        "members: accuracy alone, * the best member (most accurate; a tie goes to the one listed first); "
        "ensemble and oracle (any member right): 95% Wilson intervals",
        "lift: ensemble minus best member in accuracy points, with the 95% Newcombe interval of the paired "
        "difference; McNemar: exact two-sided p, (problems only the ensemble got right / only the best member)",
        "tokens×, time×: tokens sampled and generation time relative to the best member; written by: share of "
        "the ensemble's attributed output characters; escalated: share of rows a cascade handed on",
    ]
    return table


def results_document(rows: Sequence[ResultRow]) -> dict[str, Any]:
    return {"results": [row.to_dict() for row in rows]}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
