"""Records are appended whole and durable; resume sees what is done and repairs a cut-off line."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ensemble_cli.core.types import Attribution, Example, Result, Usage
from ensemble_cli.errors import UsageError
from ensemble_cli.io import (
    ResultWriter,
    Timing,
    make_error_record,
    make_record,
    read_done_ids,
    scan_output,
)

TIMING = Timing(started_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), seconds=1.23456, batch_size=2)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_make_record_schema() -> None:
    ex = Example("a", [{"role": "user", "content": "2+2?"}], label="4", meta={"line": 1})
    result = Result(
        id="a",
        output="4",
        finish_reason="stop",
        selected_models=["m1", "m2"],
        attribution=[Attribution("m1", 0, "4", 1, 0.5)],
        usage=Usage(prompt_tokens=10, completion_tokens=1, generated_tokens=3),
        rounds=1,
        stop_cause="eos",
    )
    rec = make_record(ex, result, timing=TIMING, recipe_hash="h", recipe={"name": "r"})
    assert rec == {
        "id": "a",
        "prompt": "2+2?",
        "output": "4",
        "label": "4",
        "finish_reason": "stop",
        "stop_cause": "eos",
        "rounds": 1,
        "selected_models": ["m1", "m2"],
        "attribution": [{"model": "m1", "round": 0, "text": "4", "tokens": 1, "score": 0.5}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "generated_tokens": 3},
        "timing": {"seconds": 1.2346, "started_at": "2025-01-02T03:04:05.000+00:00", "batch_size": 2},
        "recipe_hash": "h",
        "recipe": {"name": "r"},
    }
    no_label = Example("b", [{"role": "user", "content": "x"}])
    assert "label" not in make_record(no_label, Result(id="b"), timing=TIMING, recipe_hash="h", recipe={})


def test_failed_result_gives_error_record() -> None:
    ex = Example("a", [{"role": "user", "content": "q"}], meta={"line": 7})
    rec = make_record(ex, Result(id="a", error="boom"), timing=TIMING, recipe_hash="h", recipe={})
    assert rec == {"id": "a", "prompt": "q", "line": 7, "error": "boom", "recipe_hash": "h"}
    assert make_error_record("z", "bad", recipe_hash="h") == {"id": "z", "error": "bad", "recipe_hash": "h"}


def test_writer_appends_complete_lines(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "out.jsonl"
    with ResultWriter(out) as w:
        w.write({"id": "1", "output": "é"})
        assert out.read_text(encoding="utf-8") == '{"id": "1", "output": "é"}\n'  # visible before close
        w.write({"id": "2", "output": "b"})
    assert w.written == 2
    with ResultWriter(out, resume=True) as w:
        w.write({"id": "3", "output": "c"})
    assert [r["id"] for r in lines(out)] == ["1", "2", "3"]
    with ResultWriter(out) as w:  # not resuming: start over
        w.write({"id": "9"})
    assert [r["id"] for r in lines(out)] == ["9"]


def test_a_file_replaced_while_the_writer_holds_it_gets_the_next_records(tmp_path: Path) -> None:
    """``git stash`` / ``git checkout`` replace a file (new inode): the records after that must go to
    the file at the path, not to the unlinked one the writer still holds."""
    out = tmp_path / "member.jsonl"
    with ResultWriter(out) as w:
        w.write({"id": "1"})
        w.write({"id": "2"})
        copy = tmp_path / "restored.jsonl"
        copy.write_bytes(out.read_bytes())  # what `git stash pop` does: the same bytes, a new file
        os.replace(copy, out)
        with pytest.warns(UserWarning, match="replaced or deleted by another program"):
            w.write({"id": "3"})
        w.write({"id": "4"})  # no second warning: the writer holds the new file now
    assert [r["id"] for r in lines(out)] == ["1", "2", "3", "4"]


def test_a_file_deleted_while_the_writer_holds_it_is_created_again(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with ResultWriter(out) as w:
        w.write({"id": "1"})
        out.unlink()
        with pytest.warns(UserWarning, match=str(out)):
            w.write({"id": "2"})
    assert [r["id"] for r in lines(out)] == ["2"]


def test_writer_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    with ResultWriter("-") as w:
        w.write({"id": "1"})
    assert capsys.readouterr().out == '{"id": "1"}\n'


def test_done_ids_skip_errors_and_partial_tail(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(
        '{"id": "1", "output": "a"}\n'
        '{"id": "2", "error": "boom"}\n'
        "not json\n"
        '{"id": 3, "output": "c"}\n'
        '{"id": "4", "outp'
    )
    state = scan_output(out)
    assert state.done == {"1", "3"}
    assert state.errored == {"2"}
    assert state.bad_lines == 1 and state.partial_tail and state.records == 3
    assert read_done_ids(out) == {"1", "3"}
    assert read_done_ids(tmp_path / "missing.jsonl") == set()


def test_resume_cuts_partial_tail(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "1"}\n{"id": "2", "outp')
    with ResultWriter(out, resume=True) as w:
        assert w.repaired_bytes == len('{"id": "2", "outp')
        w.write({"id": "2"})
    assert [r["id"] for r in lines(out)] == ["1", "2"]
    only_partial = tmp_path / "p.jsonl"
    only_partial.write_text('{"id": "1"')
    with ResultWriter(only_partial, resume=True) as w:
        w.write({"id": "1"})
    assert lines(only_partial) == [{"id": "1"}]


def test_resume_clean_file_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "1"}\n')
    with ResultWriter(out, resume=True) as w:
        assert w.repaired_bytes == 0
    assert out.read_text() == '{"id": "1"}\n'


def test_writer_creates_the_file_only_with_the_first_record(tmp_path: Path) -> None:
    out = tmp_path / "new.jsonl"
    with ResultWriter(out):
        pass
    assert not out.exists()  # nothing written: no empty file left behind
    kept = tmp_path / "kept.jsonl"
    kept.write_text('{"id": "1"}\n')
    with ResultWriter(kept):  # asked to overwrite, but nothing came: the old content stays
        pass
    assert kept.read_text() == '{"id": "1"}\n'
    with ResultWriter(kept) as w:
        w.write({"id": "2"})
        w.close()
        w.write({"id": "3"})  # a late record after close() is appended, not truncating the first
    assert [r["id"] for r in lines(kept)] == ["2", "3"]


def test_writer_refuses_an_unwritable_target_at_once(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot write output file .*: is a folder"):
        ResultWriter(tmp_path)
