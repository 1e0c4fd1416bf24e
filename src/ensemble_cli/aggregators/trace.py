"""The per-round trace: every candidate a method scored in a round, its score, and the one it kept.

Attribution says who wrote each piece of the output; the trace says what that piece beat. Methods
that choose among scored candidates (``reward`` per segment round, ``best-of-n`` and ``rank`` in
their one round) report it in ``Result.summary["trace"]``, one record per round::

    {"round": 0, "candidates": [
        {"model": "smol", "text": "The sky is", "chars": 10, "score": -0.41, "chosen": true},
        {"model": "gemma", "text": "Blue.", "chars": 5, "score": -1.73, "chosen": false}]}

- ``text`` is the candidate's first ``TEXT_CHARS`` (200) characters, so a record stays small
  whatever the segment length; ``chars`` is its full length (``chars > len(text)``: truncated).
- ``score`` is the scorer's number, rounded to 6 places; ``null`` for ``-inf``/``nan`` (an empty
  candidate under ``logprob``), since JSON has neither.
- Exactly one candidate is ``chosen`` in a round that kept text, and its text is the attributed
  piece of that round. A round that kept nothing (``reward``'s repeated-segment guard ended the
  example) has no chosen candidate and says why in ``stop``.
- Methods add their own keys: ``attempt`` (``reward`` resamples below ``score_threshold``),
  ``sample`` and ``answer`` (``best-of-n``: the final answer ``extract_answer`` reads, what a vote
  counts, so a reader sees which samples agreed with the winner).

One-writer methods (``loop``, ``random``, ``progressive``) choose nobody and report no trace: their
attribution already names each round's writer. The server passes the trace on as
``ensemble.choices[i].trace`` (``server.responses``) and the web UI shows it on a click.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

TEXT_CHARS = 200  #: characters of each candidate's text kept in the trace


@dataclass
class TraceCandidate:
    """One candidate of a round as the method saw it (the full text; cut when recorded)."""

    model: str
    text: str
    score: float | None
    extra: dict[str, Any] = field(default_factory=dict)  #: method-specific keys (``attempt``, ``sample``...)


def finite(x: float | None) -> float | None:
    """A JSON-safe figure: rounded, ``None`` for inf/nan (an empty answer has no mean log-prob)."""
    if x is None:
        return None
    return round(float(x), 6) if math.isfinite(x) else None


def round_record(rnd: int, candidates: Sequence[TraceCandidate], chosen: int | None,
                 stop: str | None = None) -> dict[str, Any]:
    """The trace record of round ``rnd``: every candidate (text cut to ``TEXT_CHARS``) and which one
    was kept (``chosen``: an index into ``candidates``; ``None`` with ``stop`` when none was)."""
    cands = [
        {"model": c.model, "text": c.text[:TEXT_CHARS], "chars": len(c.text), "score": finite(c.score),
         "chosen": i == chosen, **c.extra}
        for i, c in enumerate(candidates)
    ]
    record: dict[str, Any] = {"round": rnd, "candidates": cands}
    if stop is not None:
        record["stop"] = stop
    return record


__all__ = ["TEXT_CHARS", "TraceCandidate", "finite", "round_record"]
