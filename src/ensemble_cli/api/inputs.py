"""What ``Ensemble.generate(x)`` accepts, turned into ``Example``s the way ``ensemble run`` reads rows.

``x`` is one prompt string, one chat ``messages`` list, one ``Example``, one row dict (the shapes
``ensemble run`` reads: ``{"prompt"}``, ``{"messages"}``, ``{"question", "answer"}``, with an
optional ``id`` and label), or a list of these. Every item goes through ``io.rows.to_example``,
the same conversion as an input file's rows: a string is ``{"prompt": s}``, so a list of strings
gets the ids ``"0"``, ``"1"``, ... exactly as a JSONL file of prompts without ids does, and the
two give the same seeds and the same records. A bad item is a ``UsageError`` naming it
(``x[2]: field 'prompt' is empty``), never a traceback from deep inside.
"""

from __future__ import annotations

from typing import Any

from ..core.types import Example
from ..errors import ExampleError, UsageError
from ..io.rows import to_example

#: the accepted shapes, for error messages
SHAPES = "a prompt string, a list of chat messages, an Example, a row dict, or a list of these"


def as_examples(x: Any) -> tuple[list[Example], bool]:
    """The examples in ``x`` and whether ``x`` was a single item (so one result is returned)."""
    if isinstance(x, str | Example | dict) or is_messages(x):
        return [_one(x, 0, "x")], True
    if isinstance(x, list | tuple):
        if not x:
            raise UsageError("x is an empty list: nothing to generate")
        return [_one(item, i, f"x[{i}]") for i, item in enumerate(x)], False
    raise UsageError(f"x must be {SHAPES}; got {type(x).__name__}")


def is_messages(x: Any) -> bool:
    """A chat conversation: a non-empty list of dicts with a ``role`` (a list of rows has none)."""
    return isinstance(x, list) and bool(x) and all(isinstance(m, dict) and "role" in m for m in x)


def _one(item: Any, index: int, where: str) -> Example:
    if isinstance(item, Example):
        if not item.messages:
            raise UsageError(f"{where}: the Example has no messages")
        return item
    if isinstance(item, str):
        if not item.strip():
            raise UsageError(f"{where}: the prompt is empty")
        row: dict[str, Any] = {"prompt": item}
    elif is_messages(item) or (isinstance(item, list) and not item):
        row = {"messages": item}
    elif isinstance(item, dict):
        row = item
    else:
        raise UsageError(f"{where} must be a prompt string, a list of chat messages, an Example or a row dict; "
                         f"got {type(item).__name__}")
    try:
        return to_example(row, index=index, line=index + 1)
    except ExampleError as exc:
        raise UsageError(f"{where}: {exc}") from None
