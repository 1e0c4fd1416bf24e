"""Continue an interrupted ``ensemble bench`` in its own folder (``--resume``).

A bench can run for an hour (a pairwise ``rank`` recipe on 100 problems does on two cores), and it
can be stopped part way: Ctrl-C, a killed job, a machine taken back. Every system writes each record
as it is made, so the work is on disk; ``--resume`` keeps what is provably this bench's and runs only
the rest, instead of starting over.

- Each system's file is checked record by record the way ``--baselines`` checks an earlier run (same
  problems in order, same recipe and generation settings, same batches). A record of another run is
  an error naming the file and line: that folder holds another bench, and mixing the two would give
  numbers that belong to neither.
- Whole batches are kept up to the first batch that is unfinished or holds a failed row. That batch
  and everything after it are cut from the file and run again: generation is seeded per row and the
  batches are the same, so the finished files are the ones an uninterrupted bench would have written.
- A kept batch's time is the time recorded for it then, so cost stays generation time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .baselines import FAILED, batch_seconds, difference, run_key
from .datasets import Row


@dataclass
class Resumed:
    """What an interrupted system's file keeps: its first whole batches and their recorded time."""

    records: list[dict[str, Any]]
    seconds: float
    dropped: int  #: records cut from the file to be run again (an unfinished or failed batch, and after)


def resume_point(path: Path, recipe: dict[str, Any], rows: Sequence[Row], batch_size: int) -> Resumed | None:
    """Check ``path`` against this run, cut it after its last whole good batch, and say what it kept.

    ``None`` when there is no file. Raises :class:`UsageError` when the file is not this run's.
    """
    if not path.exists():
        return None
    lines = _records(path)
    if len(lines) > len(rows):
        raise UsageError(
            f"{path}: {len(lines)} records for {len(rows)} problems, so not this bench "
            "(another --limit or input?); pass --overwrite or choose another --output-dir"
        )
    key = run_key(recipe)
    kept = 0
    for start in range(0, len(lines), batch_size):
        batch = [record for record, _, _ in lines[start : start + batch_size]]
        found = [difference(record, start + j, key, rows, batch_size) for j, record in enumerate(batch)]
        if FAILED in found:  # its rows were run one by one: other batch sizes, not another run
            break
        for j, why in enumerate(found):
            if why is not None:
                raise UsageError(
                    f"{path} line {lines[start + j][1]}: {why}, so this folder holds another bench; "
                    "pass --overwrite or choose another --output-dir"
                )
        if len(batch) < min(batch_size, len(rows) - start):
            break
        kept = start + len(batch)
    size = lines[kept - 1][2] if kept else 0
    if size != path.stat().st_size:
        os.truncate(path, size)
    records = [record for record, _, _ in lines[:kept]]
    return Resumed(records, batch_seconds(records, batch_size), len(lines) - kept)


def _records(path: Path) -> list[tuple[dict[str, Any], int, int]]:
    """Each record with its line number and the byte offset just past its line. An unterminated last
    line is left out (a write cut short); any other unreadable line is an error."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}; cannot resume this bench") from None
    out: list[tuple[dict[str, Any], int, int]] = []
    offset = 0
    number = 0
    while offset < len(data):
        end = data.find(b"\n", offset)
        if end < 0:
            break  # partial last line: never a whole record
        number += 1
        line = data[offset:end]
        offset = end + 1
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UsageError(f"{path} line {number}: not a JSON record ({exc}); cannot resume this bench") from None
        if not isinstance(record, dict):
            raise UsageError(f"{path} line {number}: not a JSON object; cannot resume this bench")
        out.append((record, number, offset))
    return out
