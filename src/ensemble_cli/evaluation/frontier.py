"""Accuracy against cost across bench folders: which recipes are worth what they cost.

Every folder must have run the same problems (``folders.check_same_problems``), or the points
would not be comparable. The plot holds:

- each member run once, however many folders hold it (``folders.member_run``: same configuration
  and same outputs; a ``--baselines`` copy is the same run), taken from the folder that measured it
  rather than one that copied it;
- each folder's ensemble, labelled with its recipe;
- the oracle (any member right) of each distinct set of members, as a horizontal line;
- the Pareto frontier: the points no other point beats on both accuracy and cost.

Cost is generation time (or sampled tokens) as a multiple of one **reference member**: the most
accurate member run over all folders. Each folder's costs are divided by *its own* run of the
reference configuration when it has one, because times measured side by side in one bench share
that session's machine load; a folder without it is divided by the reference run's own time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from .folders import BenchFolder, check_same_problems, member_config, member_run
from .stats import Accuracy
from .tables import Table, interval, num, pct

COSTS = ("time", "tokens")
_COST_WORDS = {"time": "generation time", "tokens": "tokens sampled"}
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h", "<", ">")
_MEMBER, _ENSEMBLE, _ORACLE, _FRONTIER = "#7570b3", "#d95f02", "#999999", "#1b9e77"


@dataclass
class Point:
    """One system on the plot."""

    label: str
    accuracy: Accuracy
    raw: float  #: seconds or tokens, as measured
    cost: float = math.nan  #: ``raw`` as a multiple of the reference member's
    member: str | None = None  #: the member's name; None for an ensemble
    folders: list[str] = field(default_factory=list)  #: every folder holding this run
    on_frontier: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": "ensemble" if self.member is None else "member",
            **self.accuracy.to_dict(),
            "cost": None if math.isnan(self.cost) else round(self.cost, 6),
            "measured": round(self.raw, 3),
            "frontier": self.on_frontier,
            "folders": self.folders,
        }


@dataclass
class Frontier:
    cost: str  #: "time" or "tokens"
    reference: str  #: label of the member every cost is relative to
    problems: int
    members: list[Point]
    ensembles: list[Point]
    oracles: list[tuple[str, Accuracy]]
    time_span: str | None = None  #: the problems generation time covers, when not all (``--time-over``)

    @property
    def points(self) -> list[Point]:
        return [*self.members, *self.ensembles]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cost": self.cost,
            "reference": self.reference,
            "problems": self.problems,
            "points": [p.to_dict() for p in self.points],
            "oracles": [{"label": label, **acc.to_dict()} for label, acc in self.oracles],
            "time_over": self.time_span,
        }

    @property
    def cost_words(self) -> str:
        """What the cost axis measures: ``generation time (problems 16–149)`` with ``--time-over``."""
        words = _COST_WORDS[self.cost]
        return f"{words} ({self.time_span})" if self.cost == "time" and self.time_span else words


def frontier(folders: Sequence[BenchFolder], cost: str = "time") -> Frontier:
    """The points of ``folders`` (same problems, checked), costs relative to the reference member."""
    if cost not in COSTS:
        raise UsageError(f"--cost must be one of {', '.join(COSTS)}, not {cost!r}")
    if not folders:
        raise UsageError("give at least one bench folder")
    check_same_problems(folders)
    if folders[0].comparison.compared == 0:
        raise UsageError(f"bench folder {folders[0].label}: no graded problems (records without usable labels)")

    runs: dict[tuple[str, str], list[tuple[BenchFolder, str]]] = {}
    for folder in folders:
        for name, records in folder.members.items():
            runs.setdefault(member_run(records), []).append((folder, name))
    # the folder that measured a run, not one that copied it with --baselines
    home = {key: next(((f, n) for f, n in held if n not in f.reused), held[0]) for key, held in runs.items()}
    members = {key: _point(f, n, cost, member=n, held=runs[key]) for key, (f, n) in home.items()}

    ref_key = max(members, key=lambda k: _value(members[k].accuracy))  # first listed wins a tie
    ref_folder, ref_name = home[ref_key]

    def divisor(folder: BenchFolder) -> float:
        own = next((n for n, recs in folder.members.items() if ref_key[0] and member_config(recs) == ref_key[0]), None)
        where, name = (folder, own) if own is not None else (ref_folder, ref_name)
        value = _measured(where, name, cost)
        if value <= 0:
            raise UsageError(
                f"bench folder {where.label}: member {name!r} has no recorded {_COST_WORDS[cost]}, "
                "so costs cannot be put relative to it"
            )
        return value

    for key, point in members.items():
        point.cost = point.raw / divisor(home[key][0])
    ensembles = [_point(f, f.ensemble_name, cost, label=f.recipe, held=[(f, f.ensemble_name)]) for f in folders]
    for folder, point in zip(folders, ensembles, strict=True):
        point.cost = point.raw / divisor(folder)
    _disambiguate(list(members.values()), {k: home[k][0] for k in members})
    _disambiguate(ensembles, dict(enumerate(folders)))
    result = Frontier(
        cost=cost,
        reference=members[ref_key].label,
        problems=folders[0].comparison.compared,
        members=list(members.values()),
        ensembles=ensembles,
        oracles=_oracles(folders, {k: p.label for k, p in members.items()}),
        time_span=folders[0].time_span,
    )
    mark_frontier(result.points)
    return result


def mark_frontier(points: Sequence[Point]) -> None:
    """Mark the Pareto-optimal points: none cheaper-or-equal is at least as accurate."""
    best = -math.inf
    for point in sorted(points, key=lambda p: (p.cost, -_value(p.accuracy))):
        if _value(point.accuracy) > best:
            point.on_frontier = True
            best = _value(point.accuracy)


def frontier_figure(f: Frontier, title: str | None = None) -> bytes:
    """PNG: accuracy (95% Wilson bars) against cost, oracle lines, the Pareto frontier as a step line."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    from .report import _png

    fig = Figure(figsize=(8.5, 5.5), layout="constrained")
    ax = fig.subplots()
    taken: dict[tuple[float, float], int] = {}  # labels already at a spot: stack the next one below
    for i, point in enumerate(f.members):  # one marker per member run, named beside it too
        _errorbar(ax, point, _MARKERS[i % len(_MARKERS)], _MEMBER, 8, f"{point.label} (member)")
        _label(ax, point, _MEMBER, taken)
    for point in f.ensembles:
        _errorbar(ax, point, "*", _ENSEMBLE, 14, None)
        _label(ax, point, _ENSEMBLE, taken)
    ax.plot([], [], "*", color=_ENSEMBLE, markersize=11, label="ensemble (recipe)")
    for i, (label, acc) in enumerate(f.oracles):
        style = ("--", ":", "-.")[i % 3]
        ax.axhline(100 * _value(acc), color=_ORACLE, linestyle=style, linewidth=1.2, label=f"{label}: {pct(acc.value)}")
    front = sorted((p for p in f.points if p.on_frontier), key=lambda p: p.cost)
    if len(front) > 1:
        ax.step(
            [p.cost for p in front],
            [100 * _value(p.accuracy) for p in front],
            where="post",
            color=_FRONTIER,
            alpha=0.7,
            linewidth=2,
            zorder=0,
            label="Pareto frontier",
        )
    if all(p.cost > 0 for p in f.points):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.set_xlabel(f"{f.cost_words} × {f.reference} alone")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title or f"accuracy vs {_COST_WORDS[f.cost]} ({f.problems} problems, 95% Wilson intervals)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _png(fig)


def frontier_table(f: Frontier) -> Table:
    """The plotted points as a table (members, ensembles, oracles), frontier points marked."""
    table = Table(
        f"accuracy vs cost ({f.problems} problems)",
        ["system", "accuracy", "95% CI", f"{f.cost}×", "frontier", "folder"],
    )
    for point in f.points:
        kind = "member" if point.member is not None else "ensemble"
        table.rows.append(
            [
                f"{point.label} ({kind})",
                pct(point.accuracy.value),
                interval(point.accuracy),
                num(point.cost, 2, "×"),
                "yes" if point.on_frontier else "",
                ", ".join(point.folders),
            ]
        )
    for label, acc in f.oracles:
        table.rows.append([label, pct(acc.value), interval(acc), "", "", ""])
    table.notes = [
        f"{f.cost}×: {f.cost_words} as a multiple of {f.reference} alone (the most accurate member), "
        "measured in the same bench where the folder has it",
        "frontier: no other system is at least as accurate for at most the cost",
    ]
    return table


def _point(
    folder: BenchFolder,
    name: str,
    cost: str,
    *,
    member: str | None = None,
    label: str | None = None,
    held: Sequence[tuple[BenchFolder, str]] = (),
) -> Point:
    summary = next(s for s in folder.comparison.systems if s.name == name)
    return Point(
        label=label or name,
        accuracy=summary.accuracy,
        raw=_measured(folder, name, cost),
        member=member,
        folders=[f.label for f, _ in held],
    )


def _measured(folder: BenchFolder, name: str, cost: str) -> float:
    if cost == "tokens":
        return float(folder.comparison.costs[name].generated_tokens)
    return float(folder.seconds.get(name, 0.0))


def _oracles(folders: Sequence[BenchFolder], labels: dict[tuple[str, str], str]) -> list[tuple[str, Accuracy]]:
    """One oracle per distinct set of member runs (folders over the same members share it)."""
    seen: dict[tuple[tuple[str, str], ...], tuple[str, Accuracy]] = {}
    for folder in folders:
        runs = [member_run(r) for r in folder.members.values()]
        key = tuple(sorted(runs))
        if key not in seen:
            seen[key] = (f"oracle of {' + '.join(labels[r] for r in runs)}", folder.comparison.oracle)
    return list(seen.values())


def _disambiguate(points: Sequence[Point], where: dict[Any, BenchFolder]) -> None:
    """Points that share a label get their folder's name after it."""
    labels = [p.label for p in points]
    for point, key in zip(points, list(where), strict=True):
        if labels.count(point.label) > 1:
            point.label = f"{point.label} ({where[key].path.name})"


def _label(ax, point: Point, color: str, taken: dict[tuple[float, float], int]) -> None:  # noqa: ANN001
    spot = (round(point.cost, 3), round(_value(point.accuracy), 3))
    below = taken.get(spot, 0)
    taken[spot] = below + 1
    ax.annotate(
        point.label,
        (point.cost, 100 * _value(point.accuracy)),
        textcoords="offset points",
        xytext=(7, 5 - 11 * below),
        fontsize=8,
        color=color,
    )


def _errorbar(ax, point: Point, marker: str, color: str, size: float, label: str | None) -> None:  # noqa: ANN001
    y = 100 * _value(point.accuracy)
    low = max(0.0, y - 100 * _nan(point.accuracy.low))
    high = max(0.0, 100 * _nan(point.accuracy.high) - y)
    ax.errorbar(
        [point.cost],
        [y],
        yerr=[[low], [high]],
        fmt=marker,
        color=color,
        markersize=size,
        capsize=3,
        markeredgecolor="white" if marker != "*" else color,
        label=label,
    )


def _value(acc: Accuracy) -> float:
    return acc.value if acc.total else 0.0


def _nan(value: float) -> float:
    return 0.0 if math.isnan(value) else value
