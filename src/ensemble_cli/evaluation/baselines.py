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

A run that covers only the first batches (an earlier bench that was stopped, or one with a larger
``--limit`` and the same ``--batch-size``) is taken for those whole batches, up to the first one that
differs, is unfinished or holds a failed row; the member then runs only the batches after them.
Benches of several recipes over the same members can so start before the first one has finished.

Its wall time is the sum of its batches' times as recorded then. That is the one figure that is not
side by side with the ensemble's, so the bench says which baselines it reused, how much and from where.
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
    records: list[dict[str, Any]]  #: the first records of this run: all of them, or its first whole batches
    seconds: float
    complete: bool = True  #: the records cover every problem (else the member runs the batches after them)


def run_key(recipe: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs the same run: the resolved recipe without its name, and without the
    aggregator's ``record_*`` params (``record_candidates``, ``record_proposals``): they choose what a
    record lists, not what is generated, so a bench begun before one existed still resumes."""
    key = {k: v for k, v in recipe.items() if k not in _IDENTITY}
    aggregator = key.get("aggregator")
    if isinstance(aggregator, dict) and isinstance(aggregator.get("params"), dict):
        params = {k: v for k, v in aggregator["params"].items() if not k.startswith("record_")}
        key["aggregator"] = {**aggregator, "params": params}
    return key


def find_baseline(
    recipe: dict[str, Any], rows: Sequence[Row], batch_size: int, folder: Path, have: int = 0
) -> Baseline | None:
    """The ``member-*.jsonl`` in ``folder`` holding the most of this member's run on ``rows`` (all of
    it, or its first whole batches), when that is more than the ``have`` records the member already
    has; else None. Ties go to the first file by name."""
    key = run_key(recipe)
    best: Baseline | None = None
    for path in sorted(folder.glob("member-*.jsonl")):
        records = _read(path)
        if records is None:
            continue
        n = same_batches(records, key, rows, batch_size)
        if n > max(have, len(best.records) if best else 0):
            kept = records[:n]
            best = Baseline(path, kept, batch_seconds(kept, batch_size), complete=n == len(rows))
    return best


def _read(path: Path) -> list[dict[str, Any]] | None:
    """The file's records; an unterminated last line (a bench still writing, or killed mid-write) is
    left out. None when any other line is unreadable: not a records file to trust."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    lines = text.split("\n")[:-1]  # the part after the last newline is never a whole record
    try:
        return [json.loads(line) for line in lines if line.strip()]
    except json.JSONDecodeError:
        return None  # the member is simply run again


def same_batches(records: list[dict[str, Any]], key: dict[str, Any], rows: Sequence[Row], batch_size: int) -> int:
    """How many of ``records`` are the run ``key`` makes of ``rows``, in whole batches: up to the first
    batch that differs, is cut short or holds a failed row."""
    kept = 0
    for start in range(0, len(rows), batch_size):
        want = min(batch_size, len(rows) - start)
        batch = records[start : start + want]
        if len(batch) < want or any(difference(r, start + j, key, rows, batch_size) is not None
                                    for j, r in enumerate(batch)):
            break
        kept = start + want
    return kept


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
