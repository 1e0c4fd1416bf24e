"""Attribution → coloured spans: the pure core of the playground's answer view.

The streamed answer arrives as pieces, each naming the member that wrote it (``ensemble_piece`` on
the SSE chunks); the final chunk carries the aggregator's attribution (member, round, score, tokens
per segment) and, for methods that choose among scored candidates, the per-round trace
(``aggregators.trace``). ``spans`` turns either into runs of text with one writer each, adjacent
pieces of the same writer (and the same agreement) merged; ``ui/static/ui.js`` mirrors these
functions in the browser (kept line-for-line alike so these tests pin the browser's behaviour too).

Agreement: a piece several members produced is shown as theirs together (``Span.models``, drawn as
stripes of their colours). It is read from what the ensemble reports, never guessed from the text:
token-level methods name the members whose top choice agreed (``"a+b"``); in a traced round, every
member whose candidate was the chosen one — the same text, or for whole answers the same final
answer (``answer``, what a vote counts) — agreed with its writer.
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
    #: every member that produced this text (the writer first); more than one: they agreed
    models: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def member_colours(members: Sequence[str]) -> dict[str, str]:
    """A stable colour per member (recipe order); the palette repeats past eight members."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(members)}


def members_of(model: str | None) -> list[str]:
    """The members a piece's ``model`` names: token-level methods join agreeing members with ``+``
    (member names cannot contain it: the recipe's name pattern)."""
    return [m for m in (model or "").split("+") if m]


def agreeing(record: Mapping[str, Any] | None) -> list[str]:
    """The members whose candidate in a traced round was the chosen one, the chosen writer first.

    Whole answers agree when both have a final answer and it is the same (a vote's count); else
    their texts must be the same (the trace keeps 200 characters, so the full length must match too).
    """
    if not record:
        return []
    cands = list(record.get("candidates") or [])
    chosen = next((c for c in cands if c.get("chosen")), None)
    if chosen is None:
        return []

    def same(c: Mapping[str, Any]) -> bool:
        if c.get("answer") is not None and chosen.get("answer") is not None:
            return bool(c["answer"] == chosen["answer"])
        return bool(c.get("text") == chosen.get("text") and c.get("chars") == chosen.get("chars"))

    out = [str(chosen["model"])]
    for c in cands:
        if c is not chosen and same(c) and c["model"] not in out:
            out.append(str(c["model"]))
    return out


def merge_pieces(pieces: Sequence[tuple[str, str | None]]) -> list[Span]:
    """Streamed ``(text, model)`` pieces → spans, consecutive pieces of one member joined."""
    out: list[Span] = []
    for text, model in pieces:
        if not text:
            continue
        if out and out[-1].model == model:
            out[-1].text += text
        else:
            out.append(Span(text, model, models=members_of(model)))
    return out


def attribution_spans(output: str, attribution: Sequence[Mapping[str, Any]],
                      trace: Sequence[Mapping[str, Any]] | None = None) -> list[Span]:
    """The final answer as spans from the aggregator's attribution, covering ``output`` exactly.

    Segments are matched in order; text the attribution does not cover (a stop string cut, an
    aggregator that attributes nothing) becomes a span with ``model=None``, so the spans always
    concatenate to the answer the API returned. With the response's ``trace``, each segment's
    details carry its round's candidates (``candidates``) and the members that agreed (``agree``).
    """
    rounds = {r.get("round"): r for r in trace or [] if not r.get("stop")}
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
            _add(out, output[at:found], None, None, [])
        detail: dict[str, Any] = {k: seg.get(k) for k in ("round", "score", "tokens")}
        record = rounds.get(seg.get("round"))
        models = members_of(seg.get("model"))
        if record is not None:
            detail["candidates"] = record.get("candidates") or []
            models = agreeing(record) or models
        if len(models) > 1:
            detail["agree"] = models
        _add(out, text, seg.get("model"), detail, models)
        at = found + len(text)
    if at < len(output):
        _add(out, output[at:], None, None, [])
    return out


def _add(out: list[Span], text: str, model: str | None, detail: dict[str, Any] | None, models: list[str]) -> None:
    if out and out[-1].model == model and out[-1].models == models:
        out[-1].text += text
        if detail:
            out[-1].details.append(detail)
    else:
        out.append(Span(text, model, [detail] if detail else [], models))


__all__ = ["PALETTE", "UNKNOWN", "Span", "agreeing", "attribution_spans", "member_colours", "members_of",
           "merge_pieces"]
