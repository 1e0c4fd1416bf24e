"""The reader turns every supported row shape into an Example and every bad row into a RowError."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from ensemble_cli.core.types import Example
from ensemble_cli.errors import InputError
from ensemble_cli.io import FieldMap, RowError, read_examples


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def read(path: Path, **fields: str) -> list[Example | RowError]:
    return list(read_examples(path, fields=FieldMap(**fields)))


def test_jsonl_shapes(tmp_path: Path) -> None:
    rows = [
        {"instruction": "Add.", "input": "2+2", "output": "4"},
        {"instruction": "Say hi.", "input": "", "output": "hi"},
        {"prompt": "p", "answer": 7},
        {"prompt": "p2", "label": "L"},
        {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "q"}]},
        {"question": "why?", "answer": "because"},
    ]
    items = read(write_jsonl(tmp_path / "d.jsonl", rows))
    assert all(isinstance(x, Example) for x in items)
    assert [x.id for x in items] == ["0", "1", "2", "3", "4", "5"]
    assert items[0].messages == [{"role": "user", "content": "Add.\n\n2+2"}]
    assert items[0].label == "4"
    assert items[1].prompt == "Say hi."
    assert items[2].label == "7"
    assert items[3].label == "L"
    assert items[4].messages[0] == {"role": "system", "content": "be brief"}
    assert items[4].label is None
    assert items[5].prompt == "why?" and items[5].label == "because"
    assert items[3].meta == {"line": 4, "index": 3}


def test_json_list_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text('\n[\n  {"id": "a", "prompt": "x"},\n  {"prompt": "y"},\n  3\n]\n')
    items = read(path)
    assert isinstance(items[0], Example) and items[0].id == "a" and items[0].meta["line"] == 3
    assert isinstance(items[1], Example) and items[1].id == "1" and items[1].meta["line"] == 4
    assert isinstance(items[2], RowError) and items[2].id == "2"
    assert items[2].reason == "line 5 (row index 2): expected a JSON object, got int"


def test_ids_from_default_and_mapped_fields(tmp_path: Path) -> None:
    rows = [{"idx": 12, "prompt": "a"}, {"example_id": "e", "prompt": "b"}, {"key": "k", "prompt": "c"}]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    assert [x.id for x in read(path)] == ["12", "e", "2"]
    assert [x.id for x in read(path, id_field="key")] == ["0", "1", "k"]


def test_invalid_json_line_does_not_stop_reading(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "a"}, '{"prompt": "b" "x": 1}', "", {"prompt": "c"}])
    items = read(path)
    assert isinstance(items[1], RowError)
    assert items[1].line == 2 and items[1].id == "1"
    assert items[1].reason == "line 2 (row index 1): invalid JSON: Expecting ',' delimiter at column 16"
    assert isinstance(items[2], Example) and items[2].id == "2" and items[2].meta["line"] == 4


def test_bad_line_message_names_the_number_its_id_carries(tmp_path: Path) -> None:
    """The id of a row that can't be decoded is its 0-based row index (blank lines not counted), the
    id it gets once fixed; the message gives the 1-based line *and* that index."""
    path = tmp_path / "d.jsonl"
    path.write_text('{"prompt": "a"}\n{"prompt": "b"}\n\n{"prompt": "What is 2+2?"\n{"prompt": "c"}\n')
    items = read(path)
    bad = items[2]
    assert isinstance(bad, RowError) and (bad.id, bad.line) == ("2", 4)
    assert bad.reason == "line 4 (row index 2): invalid JSON: Expecting ',' delimiter at the end of the line"
    fixed = path.read_text().replace('2+2?"', '2+2?"}')
    path.write_text(fixed)
    assert read(path)[2].id == "2"  # the same id once fixed, so --resume picks the row up


@pytest.mark.parametrize(
    ("line", "where"),
    [
        ('{"prompt": x}', "Expecting value at column 12"),
        ("  {'prompt': 'a'}", "Expecting property name enclosed in double quotes at column 4"),
        ('{"prompt": "a"} {"prompt": "b"}', "Extra data at column 17"),
        ('{"prompt": "unterminated', "Unterminated string starting at column 12"),
        ('{"prompt": "a"   ', "Expecting ',' delimiter at the end of the line"),
        ('{"prompt": "a"\r', "Expecting ',' delimiter at the end of the line"),
    ],
)
def test_invalid_json_column_points_into_the_line(tmp_path: Path, line: str, where: str) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(('{"prompt": "ok"}\n' + line + "\n").encode())
    (_, bad) = read(path)
    assert isinstance(bad, RowError)
    assert bad.reason == f"line 2 (row index 1): invalid JSON: {where}"


def test_row_with_its_own_id_is_named_by_line_only(tmp_path: Path) -> None:
    items = read(write_jsonl(tmp_path / "d.jsonl", [{"id": "q1", "text": "a"}, {"text": "b"}]))
    assert [(e.id, e.reason.split(":")[0]) for e in items] == [  # type: ignore[union-attr]
        ("q1", "line 1"),
        ("1", "line 2 (row index 1)"),
    ]


def test_missing_prompt_field_lists_fields(tmp_path: Path) -> None:
    items = read(write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "id": "r"}]))
    assert isinstance(items[0], RowError) and items[0].id == "r"
    assert "no prompt field" in items[0].reason
    assert "'text'" in items[0].reason and "'prompt'" in items[0].reason and "'messages'" in items[0].reason


def test_field_mapping(tmp_path: Path) -> None:
    rows = [{"q": "hello", "gold": "x", "conv": [{"role": "user", "content": "c"}]}]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    (item,) = read(path, prompt_field="q", label_field="gold")
    assert isinstance(item, Example) and item.prompt == "hello" and item.label == "x"
    (item,) = read(path, messages_field="conv")
    assert isinstance(item, Example) and item.messages == [{"role": "user", "content": "c"}]
    (err,) = read(path, prompt_field="nope")
    assert isinstance(err, RowError) and "'nope'" in err.reason and "--prompt-field" in err.reason


@pytest.mark.parametrize(
    ("messages", "needle"),
    [
        ([], "non-empty list"),
        ("hi", "non-empty list"),
        ([{"role": "robot", "content": "x"}], "messages[0].role"),
        ([{"role": "user", "content": 3}], "messages[0].content"),
        (["x"], "messages[0] must be an object"),
        ([{"role": "system", "content": "x"}], "no 'user' message"),
    ],
)
def test_chat_validation(tmp_path: Path, messages: object, needle: str) -> None:
    (err,) = read(write_jsonl(tmp_path / "d.jsonl", [{"messages": messages}]))
    assert isinstance(err, RowError) and needle in err.reason


def test_bad_values(tmp_path: Path) -> None:
    rows = [
        {"prompt": ""},
        {"prompt": 3},
        {"prompt": "x", "answer": [1]},
        {"instruction": "", "input": ""},
        [1],
    ]
    errs = read(write_jsonl(tmp_path / "d.jsonl", rows))
    assert all(isinstance(e, RowError) for e in errs)
    reasons = [e.reason for e in errs]  # type: ignore[union-attr]
    assert "'prompt' is empty" in reasons[0]
    assert "must be a string" in reasons[1]
    assert "label field 'answer'" in reasons[2]
    assert "both empty" in reasons[3]
    assert "expected a JSON object, got a list" in reasons[4]


def test_duplicate_ids(tmp_path: Path) -> None:
    rows = [{"id": "x", "prompt": "a"}, {"id": "y", "prompt": "b"}, {"id": "x", "prompt": "c"}]
    items = read(write_jsonl(tmp_path / "d.jsonl", rows))
    assert isinstance(items[2], RowError)
    assert items[2].reason == "line 3: duplicate id 'x' (first seen at line 1)"
    assert items[2].prompt == "c"


def test_non_utf8_line_is_one_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"prompt": "a"}\n{"prompt": "\xff"}\n{"prompt": "c"}\n')
    items = read(path)
    assert isinstance(items[1], RowError) and "not valid UTF-8" in items[1].reason
    assert isinstance(items[2], Example)


def test_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"prompt": "a"}\r\n{"prompt": "b"}\r\n')
    assert [x.prompt for x in read(path)] == ["a", "b"]  # type: ignore[union-attr]


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = io.TextIOWrapper(io.BytesIO(b'{"prompt": "a"}\n{"prompt": "b"}\n'))
    monkeypatch.setattr(sys, "stdin", fake)
    assert [x.prompt for x in read_examples("-")] == ["a", "b"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("", "input file {p} is empty"),
        ("\n  \n", "input file {p} is empty"),
        ('"just a string"', "neither a JSON list nor JSONL"),
        ("[]", "empty JSON list"),
        ('[{"prompt": "a"} {"prompt": "b"}]', "line 1: invalid JSON: expected ',' or ']'"),
        ('[{"prompt": "a"},\n {"prompt": }]', "line 2: invalid JSON: Expecting value at column 13"),
        ('[{"prompt": "a"},\n {"prompt": "b"\n\n', "line 2: invalid JSON: Expecting ',' delimiter at the end of the"),
        ('[{"prompt": "a"}\n\n', "line 1: invalid JSON: expected ',' or ']' after a list element"),
        ('[{"prompt": "a"}] x', "unexpected data after"),
        ('{\n  "prompt": "a"\n}\n', "pretty-printed JSON object"),
    ],
)
def test_unusable_input_raises_at_open(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(content)
    with pytest.raises(InputError) as info:
        read_examples(path)  # eager: no iteration needed
    assert needle.format(p=path) in str(info.value)
    assert info.value.exit_code == 2


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_examples(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="is a directory"):
        read_examples(tmp_path)


def test_subject_is_kept_for_eval(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from ensemble_cli.core.types import Result
    from ensemble_cli.io import Timing, make_record

    rows = [{"question": "q", "answer": "1", "subject": "algebra"}, {"question": "r", "subject": 3}]
    with_subject, without = read(write_jsonl(tmp_path / "d.jsonl", rows))
    assert with_subject.meta["subject"] == "algebra" and "subject" not in without.meta
    timing = Timing(datetime.now(UTC), 0.1)
    record = make_record(with_subject, Result(id="0", output="1"), timing=timing, recipe_hash="h", recipe={})
    assert record["subject"] == "algebra"
    assert "subject" not in make_record(without, Result(id="1"), timing=timing, recipe_hash="h", recipe={})
