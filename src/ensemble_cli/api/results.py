"""What the Python API gives back: a ``Completion`` per example and a ``StreamPiece`` per piece.

A ``Completion`` wraps the engine's ``Result`` with the example it answers and the batch timing,
so ``to_record()`` is *the* record ``ensemble run`` writes for that example (built by
``io.records.make_record``, nothing re-implemented here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.types import Attribution, Example, Result, Usage
from ..io.records import Timing, make_record


@dataclass(frozen=True)
class Completion:
    """One example's answer: its text, who wrote which piece, token counts and why it ended.

    ``error`` is set (and ``text`` empty) when the ensemble reported this example as failed.
    """

    example: Example
    result: Result
    timing: Timing
    recipe_hash: str
    recipe: dict[str, Any]

    @property
    def id(self) -> str:
        return self.example.id

    @property
    def text(self) -> str:
        return self.result.output

    @property
    def attribution(self) -> list[Attribution]:
        """The pieces of ``text`` in order, each with the member that wrote it (they concatenate to it)."""
        return self.result.attribution

    @property
    def usage(self) -> Usage:
        return self.result.usage

    @property
    def selected_models(self) -> list[str]:
        return self.result.selected_models

    @property
    def finish_reason(self) -> str | None:
        """``stop`` (end of sequence, stop string, cancelled) or ``length`` (a token or round budget)."""
        return self.result.finish_reason

    @property
    def stop_cause(self) -> str | None:
        """eos, stop_string, max_tokens, max_rounds, repetition or cancelled."""
        return self.result.stop_cause

    @property
    def rounds(self) -> int:
        return self.result.rounds

    @property
    def error(self) -> str | None:
        return self.result.error

    def to_record(self) -> dict[str, Any]:
        """The JSON record ``ensemble run`` writes for this example (``io.records``)."""
        return make_record(
            self.example, self.result, timing=self.timing, recipe_hash=self.recipe_hash, recipe=self.recipe
        )

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        text = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        tail = f"error={self.error!r}" if self.error else f"finish_reason={self.finish_reason!r}"
        return f"Completion(id={self.id!r}, text={text!r}, selected_models={self.selected_models}, {tail})"


@dataclass(frozen=True)
class StreamPiece:
    """A piece of an example's output, final as soon as it is handed out.

    ``index`` is the example's position in the call's input, ``model`` the member that wrote the
    piece (``a+b`` when token-level members agreed on it; ``None`` if the method does not say).
    """

    index: int
    id: str
    text: str
    model: str | None
