"""Turn one decoded input row (a JSON object) into an ``Example``, or say precisely why it can't be.

Supported row shapes, tried in this order unless a ``FieldMap`` names the fields:

- chat: ``{"messages": [{"role": ..., "content": ...}, ...]}``
- ``{"prompt": ...}`` with an optional ``answer`` / ``label`` / ``output`` as the label
- the seed format ``{"instruction", "input", "output"}``: the prompt is instruction and input joined
  by a blank line (either may be empty), the label is ``output``
- ``{"question": ..., "answer": ...}``

A string ``subject`` field (MATH's topic) is kept in ``meta["subject"]`` and copied into the output
record, so ``ensemble eval`` can break accuracy down by subject.

The id comes from the id field (``id``, ``idx`` or ``example_id`` by default); without one (or when
the row could not be decoded at all) it is the row's 0-based *row index*: its position among the
input's rows, blank lines not counted. The index, not the 1-based line number, because it is what
a row without an id field is called in every run: it is stable across runs, so ``--resume`` and
``ensemble eval`` can match rows by it, and a bad row keeps the id it will have once it is fixed.
Messages always say the 1-based line (what an editor shows); when the id is the row index they
say that too (``line 4 (row index 3): ...``), so the message and the record's id never disagree.
A bad row becomes a ``RowError`` naming the fields it has and the ones tried, never an exception:
one unusable row must not stop a long run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.types import Example
from ..errors import ExampleError

DEFAULT_ID_FIELDS = ("id", "idx", "example_id")
DEFAULT_LABEL_FIELDS = ("answer", "label", "output")
PROMPT_SHAPES = ("messages", "prompt", "instruction", "question")
CHAT_ROLES = frozenset({"system", "user", "assistant", "tool"})


@dataclass(frozen=True)
class FieldMap:
    """User-chosen field names (``--prompt-field`` etc.); ``None`` means "use the defaults"."""

    prompt_field: str | None = None
    label_field: str | None = None
    id_field: str | None = None
    messages_field: str | None = None


@dataclass(frozen=True)
class RowError:
    """An input row that cannot become an example. It is reported as an error record, never dropped.

    ``line`` is the 1-based line where the row starts; ``prompt`` is filled when it was readable.
    """

    id: str
    line: int
    reason: str
    prompt: str | None = None


class _Bad(Exception):
    """Internal: the row is unusable for the given reason."""


def row_id(row: dict[str, Any], index: int, fields: FieldMap) -> str:
    """The row's id: the id field stringified if present and scalar, else its 0-based row index."""
    return _field_id(row, fields) or str(index)


def where(line: int, index: int | None = None) -> str:
    """Where a bad row is, for its message: ``line 4``, or ``line 4 (row index 3)`` when its id is
    the row index (pass ``index`` then), so the message names the number the record's id carries."""
    return f"line {line}" if index is None else f"line {line} (row index {index})"


def bad_row(index: int, line: int, reason: str) -> RowError:
    """A row that has no id of its own (undecodable, not an object): its id is its row index."""
    return RowError(str(index), line, f"{where(line, index)}: {reason}")


def _field_id(row: dict[str, Any], fields: FieldMap) -> str | None:
    names = (fields.id_field,) if fields.id_field else DEFAULT_ID_FIELDS
    for name in names:
        value = row.get(name)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, int | float):
            return str(value)
    return None


def row_to_example(row: Any, *, index: int, line: int, fields: FieldMap) -> Example | RowError:
    """Convert one decoded row; ``index`` is its 0-based row index, ``line`` where it starts."""
    if not isinstance(row, dict):
        return bad_row(index, line, f"expected a JSON object, got {_type_name(row)}")
    own = _field_id(row, fields)
    try:
        return to_example(row, index=index, line=line, fields=fields)
    except ExampleError as exc:
        return RowError(own or str(index), line, f"{where(line, None if own else index)}: {exc}")


def to_example(row: dict[str, Any], *, index: int, line: int, fields: FieldMap = FieldMap()) -> Example:
    """One row as an ``Example``, or ``ExampleError`` saying why not (without the row's location:
    the caller knows how to name it — a file's line, the Python API's ``x[3]``)."""
    rid = _field_id(row, fields) or str(index)
    try:
        messages = _messages(row, fields)
        label = _label(row, fields)
    except _Bad as exc:
        raise ExampleError(str(exc)) from None
    meta: dict[str, Any] = {"line": line, "index": index}
    if isinstance(row.get("subject"), str) and row["subject"].strip():
        meta["subject"] = row["subject"]
    return Example(id=rid, messages=messages, label=label, meta=meta)


def _messages(row: dict[str, Any], fields: FieldMap) -> list[dict[str, str]]:
    if fields.messages_field:
        return _chat(row, fields.messages_field)
    if fields.prompt_field:
        if fields.prompt_field not in row:
            raise _Bad(_missing(row, [fields.prompt_field]))
        return _user(_text(row, fields.prompt_field))
    if "messages" in row:
        return _chat(row, "messages")
    if "prompt" in row:
        return _user(_text(row, "prompt"))
    if "instruction" in row or ("input" in row and "output" in row):
        parts = [_text(row, name, allow_empty=True) for name in ("instruction", "input") if name in row]
        prompt = "\n\n".join(p for p in parts if p.strip())
        if not prompt:
            raise _Bad("fields 'instruction' and 'input' are both empty")
        return _user(prompt)
    if "question" in row:
        return _user(_text(row, "question"))
    raise _Bad(_missing(row, list(PROMPT_SHAPES)))


def _label(row: dict[str, Any], fields: FieldMap) -> str | None:
    names = (fields.label_field,) if fields.label_field else DEFAULT_LABEL_FIELDS
    for name in names:
        value = row.get(name)
        if value is None:
            continue
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise _Bad(f"label field {name!r} must be a string or a number, got {_type_name(value)}")
    return None


def _chat(row: dict[str, Any], name: str) -> list[dict[str, str]]:
    if name not in row:
        raise _Bad(_missing(row, [name], "--messages-field"))
    messages = row[name]
    if not isinstance(messages, list) or not messages:
        raise _Bad(f"field {name!r} must be a non-empty list of messages, got {_type_name(messages)}")
    out = []
    for i, msg in enumerate(messages):
        where = f"{name}[{i}]"
        if not isinstance(msg, dict):
            raise _Bad(f"{where} must be an object with 'role' and 'content', got {_type_name(msg)}")
        role, content = msg.get("role"), msg.get("content")
        if role not in CHAT_ROLES:
            allowed = ", ".join(sorted(CHAT_ROLES))
            raise _Bad(f"{where}.role must be one of {allowed}, got {role!r}")
        if not isinstance(content, str):
            raise _Bad(f"{where}.content must be a string, got {_type_name(content)}")
        out.append({"role": role, "content": content})
    if not any(m["role"] == "user" for m in out):
        raise _Bad(f"field {name!r} has no 'user' message")
    return out


def _text(row: dict[str, Any], name: str, *, allow_empty: bool = False) -> str:
    value = row[name]
    if not isinstance(value, str):
        raise _Bad(f"field {name!r} must be a string, got {_type_name(value)}")
    if not allow_empty and not value.strip():
        raise _Bad(f"field {name!r} is empty")
    return value


def _user(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


def _missing(row: dict[str, Any], tried: list[str], flag: str = "--prompt-field") -> str:
    has = ", ".join(repr(k) for k in row) or "no fields"
    want = ", ".join(repr(t) for t in tried)
    return f"no prompt field: tried {want}; the row has {has} (name the field with {flag})"


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )
