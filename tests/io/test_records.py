"""Error records keep what graders need from the row (label, subject); input errors have none."""

from __future__ import annotations

from datetime import UTC, datetime

from ensemble_cli.core.types import Example, Result
from ensemble_cli.io.records import Timing, example_error_record, make_error_record, make_record


def example(**meta: object) -> Example:
    return Example("x", [{"role": "user", "content": "2+2?"}], label="4", meta={"line": 3, **meta})


def test_a_failed_example_keeps_its_label_and_subject() -> None:
    record = make_record(
        example(subject="algebra"),
        Result("x", error="GenerationError: too long"),
        timing=Timing(datetime.now(UTC), 0.1),
        recipe_hash="h",
        recipe={},
    )
    assert record == {
        "id": "x", "prompt": "2+2?", "label": "4", "subject": "algebra", "line": 3,
        "error": "GenerationError: too long", "recipe_hash": "h",
    }


def test_the_traceback_rides_along_only_when_given() -> None:
    assert "traceback" not in example_error_record(example(), "boom", recipe_hash="h")
    record = example_error_record(example(), "boom", recipe_hash="h", traceback="Traceback ...")
    assert list(record) == ["id", "prompt", "label", "line", "error", "traceback", "recipe_hash"]


def test_an_unreadable_input_row_has_no_label() -> None:
    assert make_error_record("7", "line 8: invalid JSON", recipe_hash="h", line=8) == {
        "id": "7", "line": 8, "error": "line 8: invalid JSON", "recipe_hash": "h",
    }
