"""Grading from Python: ``evaluate(files)`` is ``ensemble eval FILES --format json``.

``grade_files`` is the one implementation: the CLI prints its tables (or the document) and
writes the report and figure from its summaries; Python gets the document. Warnings (lines that
are not records, files without a gradable label) go to ``warn``: the CLI's stderr, Python's
``warnings`` module.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..evaluation.summary import RunSummary


def grade_files(files: Sequence[str | Path], warn: Callable[[str], None]) -> tuple[list[RunSummary], dict[str, Any]]:
    """Each file's summary, and the ``--format json`` document of them all."""
    from ..evaluation.load import read_records
    from ..evaluation.summary import summarize_records

    paths = [str(f) for f in files]
    names = [Path(p).name for p in paths]
    unique = len(set(names)) == len(names)  # bare names unless two files share one
    summaries, document = [], {"files": []}
    for path in paths:
        loaded = read_records(path)
        if loaded.bad_lines:
            warn(f"{path}: {loaded.bad_lines} lines are not records; skipped: {loaded.describe_bad()}")
        summary = summarize_records(Path(path).name if unique else path, loaded.records)
        if not summary.accuracy.total:
            warn(f"{path}: no record has a gradable label")
        summaries.append(summary)
        bad = {"bad_lines": loaded.bad_lines, "bad_line_numbers": [n for n, _ in loaded.bad]}
        document["files"].append({"path": path, **summary.to_dict(), **bad})
    return summaries, document


def evaluate(files: str | Path | Sequence[str | Path]) -> dict[str, Any]:
    """Grade result files written by ``ensemble run`` / ``Ensemble.run``: per file, accuracy with
    a 95% Wilson interval, per subject, tokens and latency (the ``ensemble eval --format json``
    document). Warnings are issued with ``warnings.warn``."""
    if isinstance(files, str | Path):
        files = [files]
    return grade_files(files, lambda text: warnings.warn(text, stacklevel=3))[1]
