"""Hand-made output records (the ``ensemble run`` format) for eval and bench tests."""

from __future__ import annotations

from typing import Any


def record(
    rid: str,
    answer: str | None,
    label: str | None = "#### 1",
    *,
    tokens: int = 10,
    generated: int | None = None,
    seconds: float = 1.0,
    attribution: list[tuple[str, str]] | None = None,
    subject: str | None = None,
) -> dict[str, Any]:
    """A successful record whose output states ``answer`` (``None``: an output without one)."""
    output = f"The answer is \\boxed{{{answer}}}." if answer is not None else "I cannot tell."
    rec: dict[str, Any] = {"id": rid, "prompt": f"problem {rid}", "output": output}
    if label is not None:
        rec["label"] = label
    if subject is not None:
        rec["subject"] = subject
    rec.update(
        finish_reason="stop",
        attribution=[{"model": m, "round": i, "text": t, "tokens": 1, "score": None} for i, (m, t) in
                     enumerate(attribution or [])],
        usage={"prompt_tokens": 5, "completion_tokens": tokens, "generated_tokens": generated or tokens},
        timing={"seconds": seconds, "started_at": "2026-01-01T00:00:00.000+00:00", "batch_size": 1},
        recipe_hash="0" * 16,
    )
    return rec


def answers(values: str, label: str = "1") -> list[dict[str, Any]]:
    """Records ``p0..pN`` from a string of verdicts: ``1`` right, ``0`` wrong, ``-`` no answer."""
    out = []
    for i, v in enumerate(values):
        ans = {"1": label, "0": "999", "-": None}[v]
        out.append(record(f"p{i}", ans, f"#### {label}"))
    return out
