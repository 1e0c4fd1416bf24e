"""The generator session contract (DESIGN.md §3).

A ``SessionBatch`` holds one session per example for one model: that model's own token stream of
the shared text and its KV cache, batched across examples. Sessions are incremental: text written
by another model is *appended* (only the new text is tokenized, plus a short unstable tail), and a
rejected candidate is *rolled back*; the prompt is never encoded twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from .types import Segment


@dataclass
class SessionStats:
    """Work counters, for benchmarks and usage reporting."""

    prompt_tokens: int = 0  #: tokens of the chat-templated prompts (prefilled once)
    encoded_tokens: int = 0  #: tokens fed to the model after the prompt (appended text, re-fed tails)
    generated_tokens: int = 0  #: tokens sampled by ``generate`` (including rejected candidates)
    forward_calls: int = 0


class SessionBatch(ABC):
    """One model's sessions for a batch of examples. Row ``i`` is the i-th example given to ``open``.

    Rows keep their index until ``retain`` drops finished ones (then remaining rows are renumbered
    in the given order).
    """

    stats: SessionStats

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def prompt_length(self, row: int) -> int:
        """Number of prompt tokens (after the chat template) of ``row``."""

    @abstractmethod
    def append(self, texts: Sequence[str | None]) -> None:
        """Extend each row's shared text by ``texts[row]`` (``None`` or ``""``: nothing)."""

    @abstractmethod
    def generate(
        self,
        max_tokens: int | Sequence[int],
        *,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        top_p: float = 1.0,
        rows: Sequence[int] | None = None,
        ignore_eos: bool = False,
    ) -> list[Segment]:
        """Write up to ``max_tokens`` tokens for each row in ``rows`` (default: all rows).

        Returns one ``Segment`` per row of the batch, indexed by row (a row not in ``rows`` gets an
        empty one). The written tokens become part of each row's text; call ``rollback`` to reject them.
        """

    @abstractmethod
    def rollback(self, row: int, n_tokens: int) -> None:
        """Drop the last ``n_tokens`` tokens written by ``generate`` for ``row``."""

    @abstractmethod
    def retain(self, rows: Sequence[int]) -> None:
        """Keep only ``rows`` (in that order); frees the others' caches."""

    @abstractmethod
    def text(self, row: int) -> str:
        """The text this session holds after the prompt (what was generated or appended)."""
