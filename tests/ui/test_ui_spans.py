"""Attribution → coloured spans (``ensemble_cli.ui.spans``): on hand-made pieces and on the real
attribution of a tiny two-member ensemble."""

from __future__ import annotations

from pathlib import Path

from ensemble_cli.ui.spans import PALETTE, attribution_spans, member_colours, merge_pieces


def test_streamed_pieces_merge_by_member_and_keep_the_text() -> None:
    pieces = [("Hel", "a"), ("lo", "a"), (", ", "b"), ("", "a"), ("world", None), ("!", None)]
    spans = merge_pieces(pieces)
    assert [(s.text, s.model) for s in spans] == [("Hello", "a"), (", ", "b"), ("world!", None)]
    assert "".join(s.text for s in spans) == "".join(t for t, _ in pieces)


def test_attribution_spans_cover_the_output_exactly_with_gaps_unattributed() -> None:
    attribution = [
        {"model": "a", "round": 0, "text": "One ", "tokens": 2, "score": -0.5},
        {"model": "a", "round": 1, "text": "two ", "tokens": 2, "score": -0.7},
        {"model": "b", "round": 2, "text": "three", "tokens": 1, "score": None},
        {"model": "b", "round": 3, "text": "not in the output", "tokens": 3, "score": -9.0},
    ]
    output = ">One two three (cut)"
    spans = attribution_spans(output, attribution)
    assert "".join(s.text for s in spans) == output
    assert [(s.text, s.model) for s in spans] == [(">", None), ("One two ", "a"), ("three", "b"), (" (cut)", None)]
    assert spans[1].details == [{"round": 0, "score": -0.5, "tokens": 2}, {"round": 1, "score": -0.7, "tokens": 2}]
    assert attribution_spans("text", []) [0].model is None


def test_member_colours_are_stable_and_distinct() -> None:
    names = [f"m{i}" for i in range(9)]
    colours = member_colours(names)
    assert len(set(list(colours.values())[:8])) == 8 and colours["m8"] == PALETTE[0]
    assert member_colours(names[:2]) == {"m0": PALETTE[0], "m1": PALETTE[1]}


def test_a_tiny_ensembles_attribution_becomes_spans_of_its_members(duo_recipe: Path) -> None:
    from ensemble_cli.core.pipeline import Pipeline
    from ensemble_cli.core.types import Example
    from ensemble_cli.recipe import load_recipe

    pipeline = Pipeline(load_recipe(duo_recipe))
    pipeline.load()
    pieces: list[tuple[str, str | None]] = []
    [result] = pipeline.run_batch([Example(id="0", messages=[{"role": "user", "content": "Count: one two"}])],
                                  on_piece=lambda i, text, model: pieces.append((text, model)))
    spans = attribution_spans(result.output, [a.__dict__ for a in result.attribution])
    streamed = merge_pieces(pieces)
    assert "".join(s.text for s in spans) == result.output == "".join(s.text for s in streamed)
    assert {s.model for s in spans} <= {"first", "second"} and all(s.details for s in spans)
    assert [(s.text, s.model) for s in streamed] == [(s.text, s.model) for s in spans]
