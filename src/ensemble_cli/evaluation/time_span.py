"""Generation time over a span of a bench's problems: the figure to quote when part of a bench ran
beside other work.

A bench on a shared machine runs for hours, and a batch that ran beside a test run can take several
times its quiet time; that batch's wall time is then in every total the bench wrote. Each record
carries its batch's ``timing`` (``started_at`` and ``seconds``, shared by the rows of one batch), so
the time of any run of whole batches can be summed again afterwards: ``--time-over 16:150`` keeps,
for every system, the batches of problems 16 to 149 in run order (the order the ensemble's records
list them; resumed runs append, so it is the order they ran in). Accuracy, McNemar and tokens stay
over every problem; only the time figures change, and the tables say over which problems.

A span that cuts a batch in two is an error naming the batch: half a batch's wall time is not a
measurement. So is a record without batch timing (written before records carried it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from .folders import BenchFolder


@dataclass(frozen=True)
class ProblemSpan:
    """Problems ``start`` to ``stop - 1`` of a bench, in run order (a Python slice: ``16:150``)."""

    start: int
    stop: int | None = None  #: None: to the last problem

    @classmethod
    def parse(cls, text: str) -> ProblemSpan:
        """``START:STOP``, ``START:`` or ``:STOP`` (0-based, STOP excluded), as ``--time-over`` takes it."""
        head, sep, tail = text.strip().partition(":")
        try:
            if not sep:
                raise ValueError
            start = int(head) if head.strip() else 0
            stop = int(tail) if tail.strip() else None
        except ValueError:
            raise UsageError(
                f"--time-over {text!r}: expected START:STOP, problem positions in run order "
                "(0-based, STOP excluded), e.g. 16:150"
            ) from None
        if start < 0 or (stop is not None and stop <= start):
            raise UsageError(f"--time-over {text!r}: need 0 <= START < STOP")
        return cls(start, stop)

    def label(self, problems: int) -> str:
        """``problems 16–149`` for a bench of ``problems`` problems."""
        last = problems if self.stop is None else min(self.stop, problems)
        return f"problems {self.start}–{last - 1}"


def time_over(folder: BenchFolder, span: ProblemSpan) -> BenchFolder:
    """``folder`` with each system's generation time summed over the whole batches of ``span`` only,
    and every time ratio recomputed from those sums (relative to the same best member)."""
    order = [str(r["id"]) for r in folder.ensemble]
    if span.start >= len(order):
        raise UsageError(f"{folder.label}: --time-over starts at problem {span.start}, but the bench has {len(order)}")
    kept = set(order[span.start : span.stop])
    systems = {**folder.members, folder.ensemble_name: folder.ensemble}
    position = {rid: i for i, rid in enumerate(order)}
    seconds = {name: _span_seconds(folder.label, name, records, kept, position) for name, records in systems.items()}
    c = folder.comparison
    best = seconds.get(c.best, 0.0)
    costs = {
        name: dataclasses.replace(
            cost,
            seconds=seconds.get(name, cost.seconds),
            time_ratio=seconds.get(name, cost.seconds) / best if best > 0 else None,
        )
        for name, cost in c.costs.items()
    }
    return dataclasses.replace(
        folder,
        seconds={**folder.seconds, **seconds},
        comparison=dataclasses.replace(c, costs=costs),
        time_span=span.label(len(order)),
    )


def times_over(folders: Sequence[BenchFolder], span: ProblemSpan | None) -> list[BenchFolder]:
    """Every folder's time over ``span`` (unchanged with None)."""
    return list(folders) if span is None else [time_over(f, span) for f in folders]


def _span_seconds(
    where: str, name: str, records: Sequence[dict[str, Any]], kept: set[str], position: dict[str, int]
) -> float:
    """Wall time of the batches of ``records`` whose problems are in ``kept``; each batch whole
    (``position``: problem id -> its place in run order, for the error message)."""
    batches: dict[tuple[Any, Any], list[str]] = {}
    for record in records:
        timing = record.get("timing")
        rid = str(record.get("id"))
        if not isinstance(timing, dict) or not isinstance(timing.get("seconds"), int | float):
            raise UsageError(f"{where}: {name}: problem {rid} has no batch timing, so its time cannot be split")
        batches.setdefault((timing.get("started_at"), timing["seconds"]), []).append(rid)
    total = 0.0
    for (started, secs), ids in batches.items():
        inside = [rid in kept for rid in ids]
        if all(inside):
            total += float(secs)
        elif any(inside):
            places = sorted(position.get(rid, -1) for rid in ids)
            raise UsageError(
                f"{where}: {name}: --time-over cuts the batch started at {started} (problems "
                f"{places[0]}–{places[-1]}, {len(ids)} rows) in two; give a span of whole batches"
            )
    return total
