"""Attribution → coloured spans (``ensemble_cli.ui.spans``): on hand-made pieces and on the real
attribution of a tiny two-member ensemble."""

from __future__ import annotations

from pathlib import Path

from ensemble_cli.ui.spans import PALETTE, agreeing, attribution_spans, member_colours, members_of, merge_pieces


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


def test_agreement_comes_from_the_trace_and_from_token_level_names() -> None:
    trace = [
        {"round": 0, "candidates": [{"model": "a", "text": "One ", "chars": 4, "score": -0.5, "chosen": True},
                                    {"model": "b", "text": "One ", "chars": 4, "score": -0.9, "chosen": False},
                                    {"model": "c", "text": "Uno ", "chars": 4, "score": -2.0, "chosen": False}]},
        {"round": 1, "candidates": [{"model": "a", "text": "two", "chars": 3, "score": -0.1, "chosen": True},
                                    {"model": "b", "text": "two", "chars": 300, "score": -0.2, "chosen": False}]},
    ]
    attribution = [{"model": "a", "round": 0, "text": "One ", "tokens": 2, "score": -0.5},
                   {"model": "a", "round": 1, "text": "two", "tokens": 1, "score": -0.1}]
    spans = attribution_spans("One two", attribution, trace)
    assert [(s.text, s.models) for s in spans] == [("One ", ["a", "b"]), ("two", ["a"])]  # 300 chars ≠ 3
    assert spans[0].details[0]["agree"] == ["a", "b"] and "agree" not in spans[1].details[0]
    assert [c["model"] for c in spans[0].details[0]["candidates"]] == ["a", "b", "c"]
    votes = {"round": 0, "candidates": [
        {"model": "a", "text": "so 42", "chars": 5, "answer": "42", "chosen": False, "score": 2},
        {"model": "b", "text": "it is 42", "chars": 8, "answer": "42", "chosen": True, "score": 2},
        {"model": "a", "text": "7", "chars": 1, "answer": "7", "chosen": False, "score": 1}]}
    assert agreeing(votes) == ["b", "a"]  # the same final answer, the writer first, each member once
    assert agreeing({"round": 2, "candidates": [], "stop": "repetition"}) == []
    token_level = merge_pieces([("The", "a+b"), (" sky", "a+b"), (" is", "a")])
    assert [(s.text, s.models) for s in token_level] == [("The sky", ["a", "b"]), (" is", ["a"])]
    assert members_of(None) == [] and members_of("x") == ["x"]


def test_a_member_ensembled_with_itself_agrees_on_its_first_segment(tmp_path: Path) -> None:
    """Same weights, greedy: round 0 starts from the same prompt, so both write the same segment (later
    rounds may differ: the non-writer holds the text in its own re-tokenization)."""
    from ui_live import DUO

    from ensemble_cli.core.pipeline import Pipeline
    from ensemble_cli.core.types import Example
    from ensemble_cli.recipe import load_recipe
    from tiny_models import save_tiny_llamas

    a = save_tiny_llamas(tmp_path)[0]
    path = tmp_path / "twins.yaml"
    path.write_text(DUO.format(a=a, b=a))  # both members: the same weights, greedy
    pipeline = Pipeline(load_recipe(path))
    [result] = pipeline.run_batch([Example(id="0", messages=[{"role": "user", "content": "Count: one two"}])])
    spans = attribution_spans(result.output, [a.__dict__ for a in result.attribution], result.summary["trace"])
    assert "".join(s.text for s in spans) == result.output
    assert spans[0].models == ["first", "second"] and spans[0].details[0]["round"] == 0
    first = result.summary["trace"][0]["candidates"]
    assert first[0]["text"] == first[1]["text"] and spans[0].details[0]["agree"] == ["first", "second"]
