"""Which part of a text is the answer, and when two answers are the same (math-verify decides)."""

from __future__ import annotations

import threading

import pytest

from ensemble_cli import answers
from ensemble_cli.answers import extract_answer, last_boxed, reference_answer, same_answer
from ensemble_cli.errors import UsageError

CASES = [
    # prediction, reference label, expected
    (r"so the answer is \boxed{\frac{1}{2}}", "0.5", True),
    (r"\boxed{1/2}", r"\frac{1}{2}", True),
    (r"first \boxed{3}, no wait: \boxed{4}", "4", True),  # several boxes: the last counts
    (r"first \boxed{4}, no wait: \boxed{3}", "4", False),
    (r"\boxed{\frac{\sqrt{2}}{2}}", r"\frac{1}{\sqrt{2}}", True),
    ("She pays 1,234 dollars.", "#### 1234", True),  # GSM8K commas, units and marker
    ("Natalia sold 48+24 = 72 clips.\n#### 72", "#### 72", True),
    ("The total is $18.", "Janet makes 18 dollars.\n#### 18", True),
    ("The answer is 17.", "#### 18", False),
    ("Total: 2 * 21 = 42.\n#### \\$42", "#### 42", True),  # an escaped dollar after the marker
    ("#### **18**", "#### 18", True),  # markdown bold after the marker
    ("I don't know.", "#### 18", False),  # missing answer is wrong
    ("", "", False),  # never empty == empty
    (None, "5", False),
]


@pytest.mark.parametrize(("pred", "ref", "expected"), CASES)
def test_grading_table(pred, ref, expected):
    assert same_answer(extract_answer(pred), reference_answer(ref)) is expected


def test_last_boxed_handles_nesting_and_unbalanced():
    assert last_boxed(r"\boxed{\frac{1}{2}} and \boxed{x^{2}}") == "x^{2}"
    assert last_boxed(r"\boxed{unclosed") is None
    assert last_boxed("no box") is None


def test_missing_answers_are_none():
    assert extract_answer("no digits at all") is None
    assert extract_answer("   ") is None
    assert same_answer(None, None) is False


def test_grades_outside_the_main_thread():
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("ok", same_answer(extract_answer("0.5"), extract_answer("1/2"))))
    t.start()
    t.join()
    assert out["ok"] is True


def test_gsm8k_marker_takes_only_the_rest_of_its_line():
    """A model that keeps writing after '#### 8' must not have the next line's number taken."""
    assert extract_answer("3 + 5 = 8\n#### 8\nThen 3 more apples fell.").text == "8"
    assert same_answer(extract_answer("#### 8\nThen 3 more"), extract_answer("8"))
    assert extract_answer("#### 1,234 dollars").text == "1,234 dollars"


def test_an_answer_found_in_the_whole_text_is_shown_as_extracted_not_as_the_text():
    """A cut-off solution (no box, no marker) is graded by its last number; records and reports show
    that number, not the whole solution."""
    cut = "Let x = n + f.\n\nSo f = \\dfrac{16}{7} and then we check 3 cases. However, since"
    found = extract_answer(cut)
    assert found is not None and found.text == "3"
    assert extract_answer("the answer is 5, doubled is 10").text == "5"
    assert extract_answer("Total: 42 dollars.").text == "42"
    assert extract_answer(r"\boxed{\frac{1}{2}}").text == r"\frac{1}{2}"  # rules 1 and 2 unchanged



def test_interval_answers_grade_equal_to_a_set_builder_label():
    """MATH algebra/6: the 1.5B's ``\\boxed{[-2, 7]}`` against the label's ``x \\in [-2,7]``. Each parse
    takes seconds in math-verify's LaTeX grammar; graded under a 5-second wall-clock limit on a busy
    machine, both came back unparseable and the right answer counted as wrong."""
    pred = extract_answer(r"Therefore, the final answer is \(\boxed{[-2, 7]}\).")
    ref = reference_answer(r"so $-2 \le x \le 7$ and $\boxed{x \in [-2,7]}$.")
    assert pred is not None and ref is not None
    assert same_answer(pred, ref)
    assert not same_answer(pred, extract_answer(r"\boxed{(-2, 7)}"))


def _seen_timeouts(monkeypatch: pytest.MonkeyPatch) -> list:
    import math_verify

    seen: list = []
    real_parse, real_verify = math_verify.parse, math_verify.verify

    def parse(source, parsing_timeout):  # noqa: ANN001, ANN202
        seen.append(parsing_timeout)
        return real_parse(source, parsing_timeout=parsing_timeout)

    def verify(a, b, timeout_seconds):  # noqa: ANN001, ANN202
        seen.append(timeout_seconds)
        return real_verify(a, b, timeout_seconds=timeout_seconds)

    monkeypatch.setattr(math_verify, "parse", parse)
    monkeypatch.setattr(math_verify, "verify", verify)
    return seen


def test_grading_time_limit_is_generous_and_set_by_the_environment(monkeypatch):
    """math-verify's timer is wall-clock: the limit must leave room for a loaded machine."""
    seen = _seen_timeouts(monkeypatch)
    monkeypatch.delenv(answers.TIMEOUT_ENV, raising=False)
    assert same_answer(extract_answer("0.5"), extract_answer("1/2"))
    assert seen and set(seen) == {answers.DEFAULT_TIMEOUT} and answers.DEFAULT_TIMEOUT >= 30
    seen.clear()
    monkeypatch.setenv(answers.TIMEOUT_ENV, "7")
    assert same_answer(extract_answer("0.5"), extract_answer("1/2"))
    assert set(seen) == {7}
    seen.clear()
    monkeypatch.setenv(answers.TIMEOUT_ENV, "0")  # no limit
    assert same_answer(extract_answer("0.5"), extract_answer("1/2"))
    assert set(seen) == {None}


@pytest.mark.parametrize("bad", ["soon", "-3", "1.5"])
def test_a_bad_grading_time_limit_is_a_usage_error_not_a_wrong_answer(monkeypatch, bad):
    monkeypatch.setenv(answers.TIMEOUT_ENV, bad)
    with pytest.raises(UsageError, match=f"ENSEMBLE_GRADE_TIMEOUT='{bad}'"):
        extract_answer("42")
