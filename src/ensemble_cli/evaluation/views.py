"""The tables ``eval`` and ``bench`` show, built once as ``tables.Table`` for every output format."""

from __future__ import annotations

from collections.abc import Sequence

from .compare import Comparison
from .summary import RunSummary
from .tables import Table, interval, num, pct

EVAL_COLUMNS = ["file", "n", "correct", "accuracy", "95% CI", "no answer", "errors", "tokens", "latency"]


def eval_tables(summaries: Sequence[RunSummary]) -> list[Table]:
    """One accuracy table over all files, then one per-subject table per file that has subjects."""
    main = Table("ensemble eval", list(EVAL_COLUMNS))
    for s in summaries:
        main.rows.append(
            [
                s.name,
                str(s.accuracy.total),
                str(s.accuracy.correct),
                pct(s.accuracy.value),
                interval(s.accuracy),
                str(s.missing),
                str(s.errors),
                num(s.mean_completion_tokens),
                num(s.mean_seconds, 2, " s"),
            ]
        )
    ungraded = [
        f"{s.name}: {s.ungraded} records without a usable label, not graded"
        + (f" ({s.ungraded_errors} of them error records)" if s.ungraded_errors else "")
        for s in summaries
        if s.ungraded
    ]
    main.notes = ["tokens: mean completion tokens; latency: mean wall time of the batch holding the row", *ungraded]
    tables = [main]
    for s in summaries:
        if s.by_subject:
            sub = Table(f"{s.name} by subject", ["subject", "n", "correct", "accuracy", "95% CI"])
            for name, acc in s.by_subject.items():
                sub.rows.append([name, str(acc.total), str(acc.correct), pct(acc.value), interval(acc)])
            tables.append(sub)
    return tables


BENCH_COLUMNS = ["system", "accuracy", "95% CI", "right", "tokens", "tokens×", "time", "time×", "share"]


def bench_tables(c: Comparison, recipe: str) -> list[Table]:
    """Members, ensemble and oracle side by side, then the verdict."""
    table = Table(f"ensemble bench: {recipe} ({c.compared} problems)", list(BENCH_COLUMNS))
    for s in c.systems:
        cost = c.costs.get(s.name)
        is_member = s.name != c.ensemble.name
        label = f"{s.name} (best)" if s.name == c.best else s.name
        table.rows.append(
            [
                label if is_member else f"{s.name} (ensemble)",
                pct(s.accuracy.value),
                interval(s.accuracy),
                f"{s.accuracy.correct}/{s.accuracy.total}",
                str(cost.generated_tokens) if cost else "-",
                num(cost.tokens_ratio, 2, "×") if cost else "-",
                num(cost.seconds, 1, " s") if cost else "-",
                num(cost.time_ratio, 2, "×") if cost else "-",
                pct(c.shares.get(s.name)) if is_member else "100%",
            ]
        )
    table.bold_rows.add(len(c.members))
    table.rows.append(
        ["oracle", pct(c.oracle.value), interval(c.oracle), f"{c.oracle.correct}/{c.oracle.total}"]
        + [""] * 5
    )
    table.notes = [
        "oracle: any member right. tokens: every token sampled (rejected candidates included); "
        "time: generation wall time (models loaded once); ×: relative to the best member",
        "share: each member's part of the ensemble's attributed output (characters)",
    ]
    members = {m.name for m in c.members}
    joint = {k: v for k, v in c.shares.items() if k not in members and v > 0}
    if joint:
        table.notes.append(
            "shared credit (token-level: the members whose top choice the chosen token was): "
            + ", ".join(f"{k} {pct(v)}" for k, v in joint.items())
        )
    verdict = Table("ensemble vs best member", ["", "value"])
    verdict.rows += [
        ["best member", c.best],
        ["lift (accuracy points)", f"{100 * c.lift:+.1f}"],
        ["ensemble right, best wrong", str(c.ensemble_only)],
        ["best right, ensemble wrong", str(c.best_only)],
        ["exact McNemar p", f"{c.p_value:.3g}"],
    ]
    if c.escalated is not None:
        verdict.rows.append(["escalated past the cheap member (cascade)", pct(c.escalated)])
    return [table, verdict]
