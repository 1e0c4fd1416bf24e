"""Read the JSONL records ``ensemble run`` (or ``bench``) wrote, for grading.

Follows the record contract in ``io.records``: the last record for an id wins (a retried row),
rows keep the order their id first appeared. Lines that are not JSON objects with an id are
counted, not fatal: a hand-edited file should still grade. A file that cannot be read at all is an
``InputError`` (exit 2) naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError


@dataclass
class RecordFile:
    path: str
    records: list[dict[str, Any]] = field(default_factory=list)
    bad_lines: int = 0


def read_records(path: str | Path) -> RecordFile:
    """One record per id (the last one), in first-seen order."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"results file {path} not found") from None
    except IsADirectoryError:
        raise InputError(f"results file {path} is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read results file {path}: {exc.strerror or exc}") from None
    out = RecordFile(str(path))
    by_id: dict[str, dict[str, Any]] = {}
    for raw in data.splitlines():
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            out.bad_lines += 1
            continue
        if not isinstance(record, dict) or record.get("id") is None:
            out.bad_lines += 1
            continue
        rid = str(record["id"])
        by_id[rid] = record  # an existing key keeps its first position: the last record wins in place
    if not by_id and not out.bad_lines:
        raise InputError(f"results file {path} is empty")
    out.records = list(by_id.values())
    return out
