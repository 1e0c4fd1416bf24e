"""Read examples from a JSON list file, a JSONL file, or standard input (``-``).

The format is detected from the first non-space character: ``[`` is a JSON list, ``{`` is JSONL.
Problems that make the whole input unusable (missing, unreadable or empty file, a top-level value
that is neither) raise ``InputError`` *when ``read_examples`` is called*, before any model loads.
Problems with one row (invalid JSON line, no prompt field, duplicate id) are yielded as
``RowError`` in the row's place, so the run records them and goes on.

JSONL is streamed line by line (stdin included) and decoded per line, so a stray non-UTF-8 line is
one bad row rather than a crash. A JSON list is parsed up front: a syntax error in it breaks the
whole document, so it is an ``InputError`` naming the line.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from ..core.types import Example
from ..errors import InputError
from .rows import FieldMap, RowError, bad_row, row_to_example

__all__ = ["FieldMap", "RowError", "read_examples"]

STDIN = "-"
_BOM = b"\xef\xbb\xbf"
_WS = re.compile(r"[ \t\r\n]*")


def read_examples(path: str | Path, *, fields: FieldMap | None = None) -> Iterator[Example | RowError]:
    """Open ``path`` (``"-"`` for stdin) and return an iterator over its rows, in input order.

    Opening and format detection happen now, so unusable input fails fast with ``InputError``.
    """
    fields = fields or FieldMap()
    what = "standard input" if str(path) == STDIN else f"input file {path}"
    stream = _open(path, what)
    try:
        lines = _numbered_lines(stream)
        first = next(((n, line) for n, line in lines if line.strip()), None)
        if first is None:
            raise InputError(f"{what} is empty")
        start = first[1].lstrip()[:1]
        if start == b"[":
            rows: Iterable[tuple[int, object]] = _json_list(first, lines, what)
            _close(stream)
        elif first[1].strip() == b"{":
            raise InputError(
                f"{what} looks like a pretty-printed JSON object; expected a JSON list ([...]) "
                "or JSONL (one object per line)"
            )
        elif start == b"{":
            rows = _jsonl(first, lines)
        else:
            shown = first[1].strip()[:20].decode("utf-8", "replace")
            raise InputError(
                f"{what} is neither a JSON list nor JSONL (one object per line): line {first[0]} "
                f"starts with {shown!r}"
            )
    except BaseException:
        _close(stream)
        raise
    return _examples(rows, fields, stream)


def _open(path: str | Path, what: str) -> BinaryIO:
    if str(path) == STDIN:
        return sys.stdin.buffer
    try:
        return open(path, "rb")  # noqa: SIM115 - closed by the returned iterator
    except FileNotFoundError:
        raise InputError(f"{what} not found") from None
    except IsADirectoryError:
        raise InputError(f"{what} is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror or exc}") from None


def _numbered_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(stream, start=1):
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        yield number, line


def _jsonl(first: tuple[int, bytes], lines: Iterator[tuple[int, bytes]]) -> Iterator[tuple[int, object]]:
    """Yield ``(line number, decoded row or the reason it can't be decoded)`` per non-blank line."""
    for number, raw in _chain(first, lines):
        if not raw.strip():
            continue
        try:
            # Without its line break, so an error at the end of the line is placed there and not at
            # "column 1" of the (empty) next line json would otherwise count.
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            yield number, _Invalid(f"not valid UTF-8 (byte {exc.start + 1})")
            continue
        try:
            yield number, json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, _Invalid(f"invalid JSON: {_message(exc)} {_locate(text, exc.pos)[1]}")


def _message(exc: json.JSONDecodeError) -> str:
    """json's message without a dangling "at" ("Unterminated string starting at")."""
    return exc.msg.removesuffix(" at")


def _locate(text: str, pos: int) -> tuple[int, str]:
    """The 1-based line of ``pos`` in ``text`` and ``at column N`` (1-based, in characters).

    json reports a truncated document (``Expecting ',' delimiter``) at the position after the
    trailing line break, i.e. "column 1" of a line that isn't there; such a position is placed
    ``at the end of the line`` of the last non-blank character instead.
    """
    end = len(text.rstrip())
    if pos >= end:
        return text.count("\n", 0, end) + 1, "at the end of the line"
    line_start = text.rfind("\n", 0, pos) + 1
    return text.count("\n", 0, pos) + 1, f"at column {pos - line_start + 1}"


def _json_list(
    first: tuple[int, bytes], lines: Iterator[tuple[int, bytes]], what: str
) -> list[tuple[int, object]]:
    """Parse a whole JSON list, keeping the line where each element starts."""
    # Blank lines before the list are re-added so positions map to the file's real line numbers.
    data = b"\n" * (first[0] - 1) + b"".join(line for _, line in _chain(first, lines))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"{what}: line {line}: not valid UTF-8") from None
    decoder = json.JSONDecoder()
    pos = _WS.match(text, 0).end() + 1  # past "["
    line, counted_to = 1, 0
    rows: list[tuple[int, object]] = []

    def fail(message: str, at: int) -> InputError:
        return InputError(f"{what}: line {_locate(text, at)[0]}: {message}")

    pos = _WS.match(text, pos).end()
    if text.startswith("]", pos):
        raise InputError(f"{what} is an empty JSON list")
    while True:
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            line_at, column = _locate(text, exc.pos)
            raise InputError(f"{what}: line {line_at}: invalid JSON: {_message(exc)} {column}") from None
        line += text.count("\n", counted_to, pos)
        counted_to = pos
        rows.append((line, value))
        pos = _WS.match(text, end).end()
        if text.startswith(",", pos):
            pos = _WS.match(text, pos + 1).end()
        elif text.startswith("]", pos):
            break
        else:
            raise fail("invalid JSON: expected ',' or ']' after a list element", pos)
    if _WS.match(text, pos + 1).end() != len(text):
        raise fail("unexpected data after the end of the JSON list", pos + 1)
    return rows


class _Invalid(str):
    """A row that could not be decoded; the string is the reason (without its location)."""


def _examples(
    rows: Iterable[tuple[int, object]], fields: FieldMap, stream: BinaryIO
) -> Iterator[Example | RowError]:
    """Convert rows to examples, turning later duplicates of an id into ``RowError``."""
    seen: dict[str, int] = {}
    try:
        for index, (line, row) in enumerate(rows):
            if isinstance(row, _Invalid):
                yield bad_row(index, line, str(row))
                continue
            item = row_to_example(row, index=index, line=line, fields=fields)
            if isinstance(item, Example):
                if item.id in seen:
                    reason = f"line {line}: duplicate id {item.id!r} (first seen at line {seen[item.id]})"
                    item = RowError(item.id, line, reason, prompt=item.prompt)
                else:
                    seen[item.id] = line
            yield item
    finally:
        _close(stream)


def _close(stream: BinaryIO) -> None:
    if stream is not sys.stdin.buffer:
        stream.close()


def _chain(first: tuple[int, bytes], rest: Iterator[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
    yield first
    yield from rest
