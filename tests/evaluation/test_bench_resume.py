"""``bench --resume``: which records of an interrupted bench are kept, which are cut and run again,
and which files are refused as another bench's (records built by hand, no models)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ensemble_cli.core.types import Example
from ensemble_cli.errors import UsageError
from ensemble_cli.evaluation.resume import resume_point

RECIPE = {"name": "duo", "models": [{"name": "a"}], "generation": {"max_tokens": 8}}
ROWS = [Example(f"q{i}", [{"role": "user", "content": f"problem {i}"}]) for i in range(5)]
BATCH = 2  # batches: [q0 q1] [q2 q3] [q4]


def record(i: int, *, batch_size: int | None = None, seconds: float = 1.0, **change: Any) -> dict[str, Any]:
    size = batch_size if batch_size is not None else min(BATCH, len(ROWS) - (i - i % BATCH))
    base = {
        "id": f"q{i}",
        "prompt": f"problem {i}",
        "output": f"answer {i}",
        "recipe": RECIPE,
        "timing": {"seconds": seconds, "batch_size": size},
    }
    return {**base, **change}


def write(path: Path, records: list[dict[str, Any]], tail: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)
    return path


def test_whole_batches_are_kept_and_an_unfinished_one_is_cut(tmp_path: Path) -> None:
    path = write(tmp_path / "ensemble.jsonl", [record(0, seconds=3.0), record(1, seconds=3.0), record(2)])
    point = resume_point(path, RECIPE, ROWS, BATCH)
    assert point is not None
    assert [r["id"] for r in point.records] == ["q0", "q1"]
    assert point.seconds == 3.0  # one batch, its recorded time counted once
    assert point.dropped == 1
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["q0", "q1"]


def test_a_finished_file_is_kept_whole(tmp_path: Path) -> None:
    path = write(tmp_path / "m.jsonl", [record(i) for i in range(5)])
    before = path.read_text()
    point = resume_point(path, RECIPE, ROWS, BATCH)
    assert point is not None and len(point.records) == 5 and point.dropped == 0
    assert point.seconds == 3.0
    assert path.read_text() == before


def test_a_write_cut_short_is_left_out(tmp_path: Path) -> None:
    path = write(tmp_path / "m.jsonl", [record(0), record(1), record(2), record(3)], tail='{"id": "q4", "pro')
    point = resume_point(path, RECIPE, ROWS, BATCH)
    assert point is not None and len(point.records) == 4 and point.dropped == 0
    assert path.read_text().endswith("\n") and len(path.read_text().splitlines()) == 4


def test_a_batch_with_a_failed_row_runs_again_with_everything_after_it(tmp_path: Path) -> None:
    failed = {"id": "q3", "prompt": "problem 3", "error": {"type": "GenerationError", "message": "boom"}}
    rows = [record(0), record(1), record(2, batch_size=1), failed, record(4)]  # rows isolated one by one
    path = write(tmp_path / "m.jsonl", rows)
    point = resume_point(path, RECIPE, ROWS, BATCH)
    assert point is not None and [r["id"] for r in point.records] == ["q0", "q1"] and point.dropped == 3


def test_no_file_is_nothing_to_resume(tmp_path: Path) -> None:
    assert resume_point(tmp_path / "absent.jsonl", RECIPE, ROWS, BATCH) is None


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (record(2, id="q9"), "id 'q9' where problem 3 is 'q2'"),
        (record(2, prompt="other"), "another prompt for 'q2'"),
        (record(2, recipe={**RECIPE, "generation": {"max_tokens": 9}}), "another recipe or other generation settings"),
        (record(2, batch_size=1), "a batch of 1 where --batch-size 2 makes 2"),
    ],
)
def test_another_runs_record_is_refused_with_its_line(tmp_path: Path, bad: dict[str, Any], says: str) -> None:
    path = write(tmp_path / "ensemble.jsonl", [record(0), record(1), bad, record(3)])
    before = path.read_text()
    with pytest.raises(UsageError) as caught:
        resume_point(path, RECIPE, ROWS, BATCH)
    assert f"{path} line 3: {says}" in str(caught.value) and "--overwrite" in str(caught.value)
    assert path.read_text() == before  # nothing cut from a file that is not ours


def test_record_switches_of_the_aggregator_do_not_make_another_run(tmp_path: Path) -> None:
    """A bench begun before ``moa`` recorded its proposals resumes after the upgrade; a param that
    changes what is generated still refuses."""
    old = {**RECIPE, "aggregator": {"type": "moa", "params": {"samples": 2}}}
    new = {**RECIPE, "aggregator": {"type": "moa", "params": {"samples": 2, "record_proposals": True}}}
    path = write(tmp_path / "ensemble.jsonl", [record(i, recipe=old) for i in range(3)])
    point = resume_point(path, new, ROWS, BATCH)
    assert point is not None and [r["id"] for r in point.records] == ["q0", "q1"]
    other = {**RECIPE, "aggregator": {"type": "moa", "params": {"samples": 3, "record_proposals": True}}}
    with pytest.raises(UsageError, match="line 1: another recipe or other generation settings"):
        resume_point(path, other, ROWS, BATCH)


def test_more_records_than_problems_is_another_bench(tmp_path: Path) -> None:
    path = write(tmp_path / "m.jsonl", [record(i) for i in range(5)])
    with pytest.raises(UsageError, match="5 records for 3 problems"):
        resume_point(path, RECIPE, ROWS[:3], BATCH)


def test_an_unreadable_line_inside_the_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(record(0)) + "\nnot json\n" + json.dumps(record(2)) + "\n")
    with pytest.raises(UsageError, match=r"m\.jsonl line 2: not a JSON record"):
        resume_point(path, RECIPE, ROWS, BATCH)
