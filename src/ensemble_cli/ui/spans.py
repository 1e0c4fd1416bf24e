"""Attribution → coloured spans: the pure core of the playground's answer view.

The streamed answer arrives as pieces, each naming the member that wrote it (``ensemble_piece`` on
the SSE chunks); the final chunk carries the aggregator's attribution (member, round, score, tokens
per segment). ``spans`` turns either into runs of text with one member each, adjacent pieces of the
same member merged; ``ui/static/ui.js`` mirrors these functions in the browser (kept line-for-line
alike so these tests pin the browser's behaviour too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

#: colour-blind-friendly (Okabe-Ito) backgrounds, by member order in the recipe
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999")
UNKNOWN = "#dddddd"


@dataclass
class Span:
    text: str
    model: str | None
    details: list[dict[str, Any]] = field(default_factory=list)  #: the segments merged into it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def member_colours(members: Sequence[str]) -> dict[str, str]:
    """A stable colour per member (recipe order); the palette repeats past eight members."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(members)}


def merge_pieces(pieces: Sequence[tuple[str, str | None]]) -> list[Span]:
    """Streamed ``(text, model)`` pieces → spans, consecutive pieces of one member joined."""
    out: list[Span] = []
    for text, model in pieces:
        if not text:
            continue
        if out and out[-1].model == model:
            out[-1].text += text
        else:
            out.append(Span(text, model))
    return out


def attribution_spans(output: str, attribution: Sequence[Mapping[str, Any]]) -> list[Span]:
    """The final answer as spans from the aggregator's attribution, covering ``output`` exactly.

    Segments are matched in order; text the attribution does not cover (a stop string cut, an
    aggregator that attributes nothing) becomes a span with ``model=None``, so the spans always
    concatenate to the answer the API returned.
    """
    out: list[Span] = []
    at = 0
    for seg in attribution:
        text = str(seg.get("text") or "")
        if not text:
            continue
        found = output.find(text, at)
        if found < 0:
            continue
        if found > at:
            _add(out, output[at:found], None, None)
        _add(out, text, seg.get("model"), {k: seg.get(k) for k in ("round", "score", "tokens")})
        at = found + len(text)
    if at < len(output):
        _add(out, output[at:], None, None)
    return out


def _add(out: list[Span], text: str, model: str | None, detail: dict[str, Any] | None) -> None:
    if out and out[-1].model == model:
        out[-1].text += text
        if detail:
            out[-1].details.append(detail)
    else:
        out.append(Span(text, model, [detail] if detail else []))


__all__ = ["PALETTE", "UNKNOWN", "Span", "attribution_spans", "member_colours", "merge_pieces"]
