"""Per-run numbers ``ensemble eval`` prints: accuracy with its interval, per subject, and costs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

from .grade import Graded, grade_record
from .stats import Accuracy


@dataclass
class RunSummary:
    """One results file (or one system of a bench), graded."""

    name: str
    accuracy: Accuracy
    by_subject: dict[str, Accuracy] = field(default_factory=dict)
    missing: int = 0  #: graded rows whose output had no extractable answer (error rows excluded)
    errors: int = 0  #: error records: graded as wrong, or among ``ungraded`` when they carry no label
    ungraded: int = 0  #: records without a usable label
    ungraded_errors: int = 0  #: of those, error records (older files wrote error records without a label)
    mean_completion_tokens: float | None = None
    mean_generated_tokens: float | None = None
    mean_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **self.accuracy.to_dict(),
            "missing_answer": self.missing,
            "errors": self.errors,
            "ungraded": self.ungraded,
            "mean_completion_tokens": _round(self.mean_completion_tokens),
            "mean_generated_tokens": _round(self.mean_generated_tokens),
            "mean_latency_s": _round(self.mean_seconds),
            "by_subject": {name: acc.to_dict() for name, acc in self.by_subject.items()},
        }


def grade_all(records: Iterable[dict[str, Any]]) -> tuple[list[Graded], int]:
    """Grade every record; return the verdicts and how many records could not be graded."""
    graded, ungraded = [], 0
    for record in records:
        verdict = grade_record(record)
        if verdict is None:
            ungraded += 1
        else:
            graded.append(verdict)
    return graded, ungraded


def summarize_records(name: str, records: Sequence[dict[str, Any]]) -> RunSummary:
    """Grade ``records`` and summarize them; every error record counts in ``errors``, also one
    without a label (written before error records kept it), which stays ungraded."""
    graded, ungraded = grade_all(records)
    graded_errors = sum(1 for g in graded if g.error is not None)
    summary = summarize(name, graded, ungraded)
    summary.ungraded_errors = sum(1 for r in records if "error" in r) - graded_errors
    summary.errors += summary.ungraded_errors
    return summary


def summarize(name: str, graded: Sequence[Graded], ungraded: int = 0) -> RunSummary:
    """Accuracy over ``graded`` (errors count as wrong), per subject when any row has one."""
    subjects: dict[str, list[Graded]] = {}
    for g in graded:
        if g.subject is not None:
            subjects.setdefault(g.subject, []).append(g)
    ok = [g for g in graded if g.error is None]
    return RunSummary(
        name=name,
        accuracy=Accuracy.of(sum(g.correct for g in graded), len(graded)),
        by_subject={s: Accuracy.of(sum(g.correct for g in rows), len(rows)) for s, rows in sorted(subjects.items())},
        missing=sum(1 for g in ok if g.answer is None),
        errors=len(graded) - len(ok),
        ungraded=ungraded,
        mean_completion_tokens=_mean(g.completion_tokens for g in ok),
        mean_generated_tokens=_mean(g.generated_tokens for g in ok),
        mean_seconds=_mean(g.seconds for g in ok),
    )


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return fmean(present) if present else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
