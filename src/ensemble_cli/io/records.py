"""The output record: one JSON object per example, the contract between ``ensemble run`` and its
readers (``ensemble eval``, ``--resume``, users' scripts).

A successful record::

    {"id", "prompt", "output", "label"?, "finish_reason", "stop_cause", "rounds", "selected_models",
     "attribution": [{"model", "round", "text", "tokens", "score"}],
     "summary"?, "usage": {"prompt_tokens", "completion_tokens", "generated_tokens"},
     "timing": {"seconds", "started_at", "batch_size", "node_id"?},
     "recipe_hash", "recipe"}

``label`` is omitted when the input had none; ``subject`` (after ``label``) only appears when the input
row had one (MATH topics, for per-subject accuracy in ``ensemble eval``); ``summary`` (method-specific
figures, e.g. the token-level methods' share of steps each member won) only when the method reports one.
``timing.seconds`` is the wall time of the batch that produced the example (its latency),
``started_at`` when that batch started (ISO 8601, UTC), and ``batch_size`` how many examples shared
it; with ``--ray``, ``node_id`` names the Ray node whose worker ran it. Every record carries the
resolved recipe and its hash so a result can be traced to its exact configuration even after files
are concatenated.

An error record has an ``error`` field and no ``output``::

    {"id", "prompt"?, "label"?, "subject"?, "line"?, "error", "traceback"?, "recipe_hash"}

A row that failed at generation time keeps its ``label`` (and ``subject``), so ``ensemble eval``
grades it as wrong instead of dropping it; an unreadable input row has none (it is not graded).
``traceback`` is only written in verbose mode (``ensemble --verbose`` / ``ENSEMBLE_DEBUG=1``).
Older files have error records without a label: readers must not rely on it.

A file may hold several records for one id (a failed row retried by ``--resume``): the last wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..core.types import Example, Result


@dataclass(frozen=True)
class Timing:
    """When the batch holding an example started, and how long it took."""

    started_at: datetime
    seconds: float
    batch_size: int = 1
    node_id: str | None = None  #: the Ray node that ran the batch (``ensemble run --ray``)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "seconds": round(self.seconds, 4),
            "started_at": self.started_at.isoformat(timespec="milliseconds"),
            "batch_size": self.batch_size,
        }
        if self.node_id is not None:
            data["node_id"] = self.node_id
        return data


def make_record(
    example: Example,
    result: Result,
    *,
    timing: Timing,
    recipe_hash: str,
    recipe: dict[str, Any],
) -> dict[str, Any]:
    """The record of one finished example; a ``Result`` with ``error`` set gives an error record."""
    if result.error is not None:
        return example_error_record(example, result.error, recipe_hash=recipe_hash)
    record: dict[str, Any] = {"id": example.id, "prompt": example.prompt, "output": result.output}
    if example.label is not None:
        record["label"] = example.label
    if isinstance(example.meta.get("subject"), str):
        record["subject"] = example.meta["subject"]
    record.update(
        finish_reason=result.finish_reason,
        stop_cause=result.stop_cause,
        rounds=result.rounds,
        selected_models=list(result.selected_models),
        attribution=[
            {"model": a.model, "round": a.round, "text": a.text, "tokens": a.tokens, "score": a.score}
            for a in result.attribution
        ],
        **({"summary": dict(result.summary)} if result.summary else {}),
        usage={
            "prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens,
            "generated_tokens": result.usage.generated_tokens,
        },
        timing=timing.to_dict(),
        recipe_hash=recipe_hash,
        recipe=recipe,
    )
    return record


def example_error_record(
    example: Example, reason: str, *, recipe_hash: str, traceback: str | None = None
) -> dict[str, Any]:
    """The record of an example whose generation failed: it keeps the row's label and subject, so
    graders count it as a wrong answer rather than losing it."""
    subject = example.meta.get("subject")
    return make_error_record(
        example.id,
        reason,
        recipe_hash=recipe_hash,
        prompt=example.prompt,
        line=_line(example),
        label=example.label,
        subject=subject if isinstance(subject, str) else None,
        traceback=traceback,
    )


def make_error_record(
    id: str,
    reason: str,
    *,
    recipe_hash: str,
    prompt: str | None = None,
    line: int | None = None,
    label: str | None = None,
    subject: str | None = None,
    traceback: str | None = None,
) -> dict[str, Any]:
    """The record of a row that failed (unreadable input or a generation error)."""
    record: dict[str, Any] = {"id": id}
    if prompt is not None:
        record["prompt"] = prompt
    if label is not None:
        record["label"] = label
    if subject is not None:
        record["subject"] = subject
    if line is not None:
        record["line"] = line
    record["error"] = reason
    if traceback is not None:
        record["traceback"] = traceback
    record["recipe_hash"] = recipe_hash
    return record


def _line(example: Example) -> int | None:
    line = example.meta.get("line")
    return line if isinstance(line, int) else None
