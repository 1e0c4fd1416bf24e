"""Grading against a hand-made table: equivalent forms, missing and several boxes, GSM8K commas and
units, and the honest rules (a missing answer is wrong; empty never equals empty)."""

from __future__ import annotations

import pytest

from ensemble_cli.evaluation.grade import grade_record

GSM = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18"

CASES = [
    # (prediction, reference label, expected)
    # GSM8K: "#### N" labels, answers in prose, commas, units, currency
    ("She makes 9 * 2 = 18 dollars every day.", GSM, True),
    ("So she makes $18.00 per day.", GSM, True),
    ("She has 16 - 3 - 4 = 9 eggs, so 9 * 2 = 17 dollars.", GSM, False),  # the last number counts
    ("First 18 is wrong, the final answer is 17.", GSM, False),
    ("#### 18", GSM, True),
    ("The total is 1,234 dollars.", "Add them.\n#### 1234", True),
    ("The total is 1234.", "Add them.\n#### 1,234", True),
    ("It weighs 5 kg in total.", "#### 5", True),
    ("It takes 3 bolts in total.", "#### 30", False),
    # MATH / AIME / AMC: \boxed{} LaTeX, equivalent forms
    ("So $x = \\boxed{\\frac{1}{2}}$.", "Thus the answer is $\\boxed{0.5}$.", True),
    ("\\boxed{\\dfrac{1}{2}}", "$\\boxed{\\frac12}$", True),
    ("\\boxed{(x+1)^2}", "We get $\\boxed{x^2+2x+1}$.", True),
    ("\\boxed{\\frac{\\sqrt{3}}{2}}", "so $\\boxed{\\frac{\\sqrt3}{2}}$", True),
    ("\\boxed{27}", "\\boxed{27.0}", True),  # amc23 labels are floats
    ("The answer is \\boxed{70}.", "70", True),  # AIME labels are bare numbers
    ("\\boxed{71}", "70", False),
    ("\\boxed{\\frac{1}{3}}", "$\\boxed{\\frac{1}{2}}$", False),
    # several boxes: the last one counts
    ("First \\boxed{3}, but that is wrong; the answer is \\boxed{4}.", "#### 4", True),
    ("\\boxed{4} or maybe \\boxed{3}", "#### 4", False),
    # missing answer: wrong, whatever the reference
    ("I am not sure how to solve this.", GSM, False),
    ("", GSM, False),
    ("", "$\\boxed{0}$", False),
]


@pytest.mark.parametrize(("prediction", "label", "expected"), CASES)
def test_grading_table(prediction: str, label: str, expected: bool) -> None:
    verdict = grade_record({"id": "x", "output": prediction, "label": label})
    assert verdict is not None
    assert verdict.correct is expected, (verdict.answer, verdict.reference)


def test_a_missing_answer_is_wrong_and_recorded_as_missing() -> None:
    verdict = grade_record({"id": "x", "output": "no idea", "label": "#### 0"})
    assert verdict is not None and not verdict.correct and verdict.answer is None and verdict.reference == "0"


def test_empty_never_equals_empty() -> None:
    # The seed's script graded an empty prediction against an empty label as correct. An empty
    # label has no answer to grade against, so the record is not graded at all.
    assert grade_record({"id": "x", "output": "", "label": ""}) is None
    assert grade_record({"id": "x", "output": "", "label": "no number here"}) is None


def test_records_without_label_are_not_graded() -> None:
    assert grade_record({"id": "x", "output": "\\boxed{1}"}) is None


def test_error_record_is_wrong() -> None:
    verdict = grade_record({"id": "x", "error": "GenerationError: too long", "label": "#### 3"})
    assert verdict is not None and not verdict.correct and verdict.error == "GenerationError: too long"


def test_costs_are_read_from_the_record() -> None:
    record = {
        "id": "7",
        "output": "\\boxed{2}",
        "label": "2",
        "subject": "algebra",
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "generated_tokens": 9},
        "timing": {"seconds": 1.5, "started_at": "x", "batch_size": 2},
    }
    verdict = grade_record(record)
    assert verdict is not None and verdict.correct
    assert (verdict.subject, verdict.completion_tokens, verdict.generated_tokens, verdict.seconds) == (
        "algebra", 5, 9, 1.5,
    )
