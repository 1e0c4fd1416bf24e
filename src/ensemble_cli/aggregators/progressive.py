"""The ``progressive`` aggregator: one model after another writes the answer, switching by output
length, by special strings, or both.

- ``mode: length`` — ``length_thresholds: [100, 300]`` makes three bands of output length (in
  tokens, each segment counted in its writer's tokenizer): member 0 writes tokens 0-99, member 1
  tokens 100-299, member 2 the rest. A segment is capped so the switch happens *exactly* at a
  threshold.
- ``mode: string`` — the writer moves to the next member each time one of ``switch_strings``
  (e.g. ``</think>``) appears in the output; the segment is cut right after the string (also when
  the string straddles two segments), so the next member writes everything after it.
- ``mode: mixed`` — both: a switch string moves to the next member at once, and reaching a length
  threshold moves to at least that band's member; whichever comes first wins, and the writer never
  moves back.

The last member never hands over. The next member continues the *same assistant turn* in its own
chat template (its session appended every earlier segment as it was written). Bands are mapped to
the selected members in order; if a selector picked fewer members than there are bands, the last
member writes the remaining bands. ``more bands than models`` in the recipe is a recipe error, as
are thresholds that do not increase.

The seed's version looked for a misspelt ``<\\think>`` that never matched; the strings here are
matched literally, and a test switches on each of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from ..core.components import ComponentConfig, EnsembleContext
from ..errors import Problem
from .one_writer import OneWriterAggregator
from .rounds import RoundsConfig, RowState


class ProgressiveConfig(RoundsConfig):
    mode: Literal["length", "string", "mixed"] = Field("length", description="what triggers a switch")
    length_thresholds: list[int] = Field(
        default_factory=list,
        validate_default=True,
        description="output lengths (tokens) where the next band's model takes over",
    )
    switch_strings: list[str] = Field(
        default_factory=list,
        validate_default=True,
        description="strings after which the next model takes over (e.g. '</think>')",
    )

    @field_validator("length_thresholds")
    @classmethod
    def _thresholds(cls, t: list[int], info: ValidationInfo) -> list[int]:
        mode = info.data.get("mode")
        if mode in ("length", "mixed") and not t:
            raise ValueError(f"mode {mode!r} needs at least one threshold")
        if any(x <= 0 for x in t):
            raise ValueError(f"thresholds must be positive (got {t})")
        if any(b <= a for a, b in zip(t, t[1:], strict=False)):
            raise ValueError(f"thresholds must increase (got {t})")
        return t

    @field_validator("switch_strings")
    @classmethod
    def _strings(cls, strings: list[str], info: ValidationInfo) -> list[str]:
        mode = info.data.get("mode")
        if mode in ("string", "mixed") and not strings:
            raise ValueError(f"mode {mode!r} needs at least one switch string")
        if any(not s for s in strings):
            raise ValueError("an empty switch string would switch at once")
        return strings


class ProgressiveAggregator(OneWriterAggregator):
    description = "one model after another, switching by output length bands and/or special strings"
    Config = ProgressiveConfig
    config: ProgressiveConfig

    @classmethod
    def recipe_problems(cls, config: ComponentConfig, models: Sequence[str]) -> list[Problem]:
        assert isinstance(config, ProgressiveConfig)
        if config.mode == "string":
            return []
        bands = len(config.length_thresholds) + 1
        if bands > len(models):
            most = len(models) - 1
            message = f"{bands} length bands but only {len(models)} model(s); give at most {most} threshold(s)"
            return [Problem("length_thresholds", message)]
        return []

    def _band(self, tokens: int) -> int:
        return sum(1 for t in self.config.length_thresholds if tokens >= t)

    def writer(self, st: RowState, rnd: int, n_members: int, ctx: EnsembleContext) -> int:
        if self.config.mode != "string":
            st.stage = max(st.stage, self._band(st.tokens))
        st.stage = min(st.stage, n_members - 1)
        return st.stage

    def cap(self, st: RowState, writer: int, n_members: int) -> int | None:
        if self.config.mode == "string" or writer >= n_members - 1:
            return None
        t = self.config.length_thresholds
        k = max(self._band(st.tokens), writer)  # the next threshold that would move the writer on
        return t[k] - st.tokens if k < len(t) else None

    def cut(self, st: RowState, writer: int, text: str, n_members: int) -> int | None:
        if self.config.mode == "length" or writer >= n_members - 1:
            return None
        strings = self.config.switch_strings
        longest = max(map(len, strings))
        tail = st.output[-(longest - 1) :] if longest > 1 else ""
        window = tail + text
        ends = []
        for s in strings:
            # the first occurrence that ends inside the new text (one ending in the tail was seen before)
            at = window.find(s, max(0, len(tail) - len(s) + 1))
            if at >= 0:
                ends.append(at + len(s) - len(tail))
        if not ends:
            return None
        st.stage = writer + 1
        return min(ends)
