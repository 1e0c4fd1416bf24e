"""Grade one output record: extract the final answer from the output and from the label, compare.

Extraction and equivalence are ``ensemble_cli.answers`` (math-verify): the last ``\\boxed{}``, else a
GSM8K ``#### N`` line, else the last number. The rules that make a score honest live here:

- an error record, or an output with no extractable answer, is *wrong* (never "empty == empty");
- a record without a label, or whose label has no extractable answer, is *not graded* at all (it
  is counted and reported, but it cannot raise or lower the accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..answers import extract_answer, reference_answer, same_answer


@dataclass(frozen=True)
class Graded:
    """The verdict on one record, with the costs ``eval`` and ``bench`` average."""

    id: str
    correct: bool
    answer: str | None  #: the extracted final answer of the output (None: missing)
    reference: str  #: the extracted reference answer
    subject: str | None = None
    error: str | None = None  #: the record was an error record (its row failed)
    completion_tokens: int | None = None
    generated_tokens: int | None = None
    seconds: float | None = None  #: latency: wall time of the batch that produced it


def grade_record(record: dict[str, Any]) -> Graded | None:
    """The verdict on ``record``, or ``None`` when it has no gradable label."""
    label = record.get("label")
    if label is None:
        return None
    reference = reference_answer(str(label))
    if reference is None:
        return None
    subject = record.get("subject")
    subject = subject if isinstance(subject, str) else None
    rid = str(record.get("id"))
    if "error" in record:
        return Graded(rid, False, None, reference.text, subject, error=str(record["error"]))
    output = record.get("output")
    answer = extract_answer(output) if isinstance(output, str) else None
    usage = record.get("usage") if isinstance(record.get("usage"), dict) else {}
    timing = record.get("timing") if isinstance(record.get("timing"), dict) else {}
    return Graded(
        rid,
        same_answer(answer, reference),
        answer.text if answer is not None else None,
        reference.text,
        subject,
        completion_tokens=_number(usage.get("completion_tokens")),
        generated_tokens=_number(usage.get("generated_tokens")),
        seconds=_number(timing.get("seconds")),
    )


def _number(value: Any) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None
