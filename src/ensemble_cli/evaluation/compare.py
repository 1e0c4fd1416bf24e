"""The bench verdict: the ensemble against each member alone on the same graded problems.

Inputs are the record lists of each system (members and ensemble ran the same examples) and the
wall time each spent generating. Outputs are the numbers a paper needs:

- each system's accuracy with its Wilson interval, and the oracle (any member right);
- the ensemble's lift over the *best* member (highest accuracy; ties go to the member listed first
  in the recipe) and the exact McNemar p-value on the paired verdicts;
- cost relative to the best member: tokens sampled (``usage.generated_tokens``, rejected candidates
  included: what the compute pays for) and generation wall time;
- each member's share of the ensemble's attributed output, in characters, because members count
  tokens with different tokenizers and characters are the one unit they share;
- for a cascade, the share of problems escalated past the cheap member (``summary.escalated``).

Only problems graded for every system are compared (a record without a usable label is dropped
from all of them alike); a failed row counts as wrong, as in ``eval``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .grade import Graded
from .stats import Accuracy, mcnemar_exact
from .summary import RunSummary, grade_all, summarize


@dataclass
class Cost:
    generated_tokens: int
    completion_tokens: int
    seconds: float
    tokens_ratio: float | None = None  #: generated tokens / the best member's
    time_ratio: float | None = None  #: wall time / the best member's

    def to_dict(self) -> dict[str, Any]:
        return {
            "generated_tokens": self.generated_tokens,
            "completion_tokens": self.completion_tokens,
            "seconds": round(self.seconds, 3),
            "tokens_vs_best": _r(self.tokens_ratio),
            "time_vs_best": _r(self.time_ratio),
        }


@dataclass
class Comparison:
    members: list[RunSummary]
    ensemble: RunSummary
    best: str
    oracle: Accuracy
    lift: float  #: ensemble accuracy minus the best member's (fraction, not points)
    ensemble_only: int  #: problems the ensemble got right and the best member wrong
    best_only: int  #: the reverse
    p_value: float  #: exact McNemar, two-sided
    costs: dict[str, Cost] = field(default_factory=dict)
    shares: dict[str, float] = field(default_factory=dict)  #: member -> fraction of attributed chars
    compared: int = 0  #: problems graded for every system
    escalated: float | None = None  #: cascade: share of compared problems escalated (None: not a cascade)

    @property
    def systems(self) -> list[RunSummary]:
        return [*self.members, self.ensemble]

    def to_dict(self) -> dict[str, Any]:
        return {
            "compared": self.compared,
            "members": [_with_cost(s, self.costs) for s in self.members],
            "ensemble": _with_cost(self.ensemble, self.costs),
            "best_member": self.best,
            "oracle": self.oracle.to_dict(),
            "lift": round(self.lift, 6),
            "mcnemar": {"ensemble_only": self.ensemble_only, "best_only": self.best_only, "p_value": _r(self.p_value)},
            "attributed_share": {k: round(v, 6) for k, v in self.shares.items()},
            **({"escalated_share": round(self.escalated, 6)} if self.escalated is not None else {}),
        }


def compare(
    members: Mapping[str, Sequence[dict[str, Any]]],
    ensemble: Sequence[dict[str, Any]],
    seconds: Mapping[str, float],
    ensemble_name: str = "ensemble",
) -> Comparison:
    """Compare ``ensemble`` records with each member's (``members``: name -> records, recipe order)."""
    if not members:
        raise ValueError("a comparison needs at least one member")
    graded = {name: _by_id(recs) for name, recs in members.items()}
    graded[ensemble_name] = _by_id(ensemble)
    common = [rid for rid in graded[ensemble_name] if all(rid in g for g in graded.values())]
    ungraded = len(ensemble) - len(common)

    def rows(name: str) -> list[Graded]:
        return [graded[name][rid] for rid in common]

    summaries = {name: summarize(name, rows(name), ungraded) for name in graded}
    member_names = list(members)
    best = max(member_names, key=lambda n: (summaries[n].accuracy.correct, -member_names.index(n)))
    ens, top = rows(ensemble_name), rows(best)
    ensemble_only = sum(e.correct and not b.correct for e, b in zip(ens, top, strict=True))
    best_only = sum(b.correct and not e.correct for e, b in zip(ens, top, strict=True))
    oracle = sum(any(graded[m][rid].correct for m in member_names) for rid in common)
    compared_ids = set(common)
    return Comparison(
        members=[summaries[n] for n in member_names],
        ensemble=summaries[ensemble_name],
        best=best,
        oracle=Accuracy.of(oracle, len(common)),
        lift=_fraction(summaries[ensemble_name].accuracy) - _fraction(summaries[best].accuracy),
        ensemble_only=ensemble_only,
        best_only=best_only,
        p_value=mcnemar_exact(ensemble_only, best_only),
        costs=_costs({**members, ensemble_name: ensemble}, seconds, best),
        shares=attributed_shares(ensemble, member_names),
        compared=len(common),
        escalated=escalated_share([r for r in ensemble if str(r.get("id")) in compared_ids]),
    )


def escalated_share(records: Sequence[dict[str, Any]]) -> float | None:
    """Share of the records whose ``summary.escalated`` is true, among those that say (None: none do)."""
    said = [bool(s["escalated"]) for r in records
            if isinstance(s := r.get("summary"), dict) and "escalated" in s]
    return sum(said) / len(said) if said else None


NO_MEMBER = "(no member's first choice)"  #: token-level text that no voting member ranked first


def attributed_shares(records: Sequence[dict[str, Any]], members: Sequence[str]) -> dict[str, float]:
    """Fraction of the attributed output characters each member wrote (members in recipe order).

    Token-level methods credit a piece to every member whose top choice it was (``"a+b"``), or to
    none (an empty name: the merged choice was nobody's first); those keep keys of their own after
    the members', so the shares still add up to one.
    """
    chars = dict.fromkeys(members, 0)
    for record in records:
        for piece in record.get("attribution") or []:
            if isinstance(piece, dict) and isinstance(piece.get("text"), str):
                model = str(piece.get("model") or NO_MEMBER)
                chars[model] = chars.get(model, 0) + len(piece["text"])
    total = sum(chars.values())
    return {m: (c / total if total else 0.0) for m, c in chars.items()}


def _by_id(records: Sequence[dict[str, Any]]) -> dict[str, Graded]:
    graded, _ = grade_all(records)
    return {g.id: g for g in graded}


def _costs(records: Mapping[str, Sequence[dict[str, Any]]], seconds: Mapping[str, float], best: str) -> dict[str, Cost]:
    costs = {}
    for name, recs in records.items():
        usage = [r.get("usage") or {} for r in recs if "error" not in r]
        costs[name] = Cost(
            generated_tokens=sum(int(u.get("generated_tokens") or 0) for u in usage),
            completion_tokens=sum(int(u.get("completion_tokens") or 0) for u in usage),
            seconds=float(seconds.get(name, 0.0)),
        )
    base = costs[best]
    for cost in costs.values():
        cost.tokens_ratio = cost.generated_tokens / base.generated_tokens if base.generated_tokens else None
        cost.time_ratio = cost.seconds / base.seconds if base.seconds > 0 else None
    return costs


def _with_cost(summary: RunSummary, costs: Mapping[str, Cost]) -> dict[str, Any]:
    data = summary.to_dict()
    if summary.name in costs:
        data["cost"] = costs[summary.name].to_dict()
    return data


def _fraction(acc: Accuracy) -> float:
    return acc.correct / acc.total if acc.total else 0.0


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
