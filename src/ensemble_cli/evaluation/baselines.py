"""Reuse a member's run from an earlier bench instead of running it again.

Researchers bench many recipes over the same members. A member alone is the ``single`` aggregator
over one generator with the recipe's generation settings, so two recipes that agree on those run
the *same* baseline: re-running it costs as much as the ensemble run itself and yields the same
records (generation is seeded per row). ``ensemble bench --baselines DIR`` takes them from an
earlier bench folder instead.

A file is taken only when it is provably the same run, checked on every record (records carry
their resolved recipe and batch timing, so nothing needs to be trusted):

- the member recipe equals this one with its name and description set aside (same generator
  config, same generation settings);
- the same problems in the same order: ids and prompts, and a failed input row where this input
  has one; no generation errors (a failed baseline row is run again, not copied);
- the same batches: every record's ``timing.batch_size`` is what this bench's ``--batch-size``
  makes of its position (padding can change a bf16 model's greedy choice, so batching is part of
  the run).

Its wall time is the sum of its batches' times as recorded then. That is the one figure that is not
side by side with the ensemble's, so the bench says which baselines it reused and from where.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.types import Example
from .datasets import Row

_IDENTITY = ("name", "description")


@dataclass
class Baseline:
    """A member run found reusable: its records (in row order) and the generation time it took."""

    path: Path
    records: list[dict[str, Any]]
    seconds: float


def run_key(recipe: dict[str, Any]) -> dict[str, Any]:
    """What makes two member runs the same run: the resolved recipe without its name."""
    return {k: v for k, v in recipe.items() if k not in _IDENTITY}


def find_baseline(
    recipe: dict[str, Any], rows: Sequence[Row], batch_size: int, folder: Path
) -> Baseline | None:
    """The first ``member-*.jsonl`` in ``folder`` that is this member's run on ``rows``, else None."""
    key = run_key(recipe)
    for path in sorted(folder.glob("member-*.jsonl")):
        records = _read(path)
        if records is not None and _same_run(records, key, rows, batch_size):
            return Baseline(path, records, batch_seconds(records, batch_size))
    return None


def _read(path: Path) -> list[dict[str, Any]] | None:
    records = []
    try:
        with path.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    records.append(json.loads(line))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # not a records file we can trust; the member is simply run again
    return records


def _same_run(records: list[dict[str, Any]], key: dict[str, Any], rows: Sequence[Row], batch_size: int) -> bool:
    if len(records) != len(rows):
        return False
    return all(difference(r, i, key, rows, batch_size) is None for i, r in enumerate(records))


FAILED = "a failed row"  #: :func:`difference` of a generation error: not this run's result, run it again


def difference(
    record: dict[str, Any], index: int, key: dict[str, Any], rows: Sequence[Row], batch_size: int
) -> str | None:
    """Why ``record`` is not row ``index`` of the run ``key`` makes of ``rows`` (None: it is).

    :data:`FAILED` for a generation error (the row's result is still owed); any other text names
    what differs, so a caller can say which file holds another run and where.
    """
    row = rows[index]
    if record.get("id") != row.id:
        return f"id {record.get('id')!r} where problem {index + 1} is {row.id!r}"
    if not isinstance(row, Example):
        return None if "error" in record else f"a result for {row.id!r}, an unusable input row here"
    if "error" in record:
        return FAILED
    if record.get("prompt") != row.prompt:
        return f"another prompt for {row.id!r}"
    if not isinstance(record.get("recipe"), dict) or run_key(record["recipe"]) != key:
        return "another recipe or other generation settings"
    start = index - index % batch_size
    expected = min(batch_size, len(rows) - start)
    got = (record.get("timing") or {}).get("batch_size")
    if got != expected:
        return f"a batch of {got} where --batch-size {batch_size} makes {expected}"
    return None


def batch_seconds(records: list[dict[str, Any]], batch_size: int) -> float:
    """Sum of batch times: every record of a batch carries that batch's time; count it once."""
    total = 0.0
    for start in range(0, len(records), batch_size):
        timed = next((r for r in records[start : start + batch_size] if "timing" in r), None)
        if timed is not None:
            total += float(timed["timing"]["seconds"])
    return total
