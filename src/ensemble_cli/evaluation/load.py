"""Read the JSONL records ``ensemble run`` (or ``bench``) wrote, for grading.

Follows the record contract in ``io.records``: the last record for an id wins (a retried row),
rows keep the order their id first appeared. Lines that are not JSON objects with an id are
skipped and reported by line number with the reason, not fatal: a hand-edited file should still
grade. A file that cannot be read at all, or holds no result record at all (no record with an id
and an ``output`` or ``error``: the input dataset given by mistake, say), is an ``InputError``
(exit 2) naming it, never a silent n=0 row.
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
    bad: list[tuple[int, str]] = field(default_factory=list)  #: (1-based line, why it is not a record)

    @property
    def bad_lines(self) -> int:
        return len(self.bad)

    def describe_bad(self, most: int = 5) -> str:
        """``line 3 (not JSON: …), line 9 (no "id")`` — the first ``most``, then how many more."""
        shown = ", ".join(f"line {n} ({why})" for n, why in self.bad[:most])
        rest = len(self.bad) - most
        return shown + (f" and {rest} more" if rest > 0 else "")


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
    for line, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except UnicodeDecodeError:
            out.bad.append((line, "not UTF-8"))
            continue
        except json.JSONDecodeError as exc:
            out.bad.append((line, f"not JSON: {exc.msg} at column {exc.colno}"))
            continue
        if not isinstance(record, dict):
            out.bad.append((line, f"a JSON {type(record).__name__}, not an object"))
            continue
        if record.get("id") is None:
            out.bad.append((line, 'no "id"'))
            continue
        rid = str(record["id"])
        by_id[rid] = record  # an existing key keeps its first position: the last record wins in place
    if not by_id and not out.bad_lines:
        raise InputError(f"results file {path} is empty")
    if not any("output" in r or "error" in r for r in by_id.values()):
        skipped = f"; lines that are not records: {out.describe_bad()}" if out.bad_lines else ""
        raise InputError(
            f"{path}: not a results file of `ensemble run` (no record has an id and an output or error){skipped}"
        )
    out.records = list(by_id.values())
    return out
