"""The ``weighted`` scorer: a weighted sum of other scorers, each normalised first.

::

    scorer:
      type: weighted
      params:
        normalize: minmax            # none | minmax | zscore
        parts:
          - {type: prm, weight: 1.0}
          - {type: logprob, weight: 0.2}

Scorers speak different units (a PRM gives probabilities, ``logprob`` nats per token, a reward
model unbounded logits), so each part's scores are normalised *within each group of competing
candidates* (same example and prefix: one round's candidates for one example) before weighting:

- ``minmax`` (default): ``(s - min) / (max - min)`` over the group's finite scores, so the group's
  best candidate gets 1 and its worst 0 under every part; when all are equal (or the candidate is
  alone) each gets 0.5. ``-inf`` (a part ruling a candidate out) maps to 0, ``+inf`` to 1, NaN to 0.
- ``zscore``: ``(s - mean) / std`` over the group's finite scores (population std); 0 when the
  std is 0; non-finite scores map like ``minmax`` does, to the group's lowest/highest z minus/plus 1.
- ``none``: the raw scores, for parts that already share a scale.

The result is ``sum(weight_k * norm_k(score))``. Only the order within a group is meaningful.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ..core.components import Candidate, ComponentConfig, Member, Scorer
from ..errors import PluginError, Problem
from ..nested_spec import ScorerSpec

if TYPE_CHECKING:
    from ..core.pool import ModelPool


class WeightedPart(ScorerSpec):
    """One part: a nested scorer spec plus its weight."""

    weight: float = Field(1.0, allow_inf_nan=False, description="multiplies the part's normalised score")


class WeightedConfig(ComponentConfig):
    parts: list[WeightedPart] = Field(min_length=1, description="the scorers to combine")
    normalize: Literal["none", "minmax", "zscore"] = Field("minmax", description="per-group normalisation")


def _minmax(scores: list[float]) -> list[float]:
    finite = [s for s in scores if math.isfinite(s)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
    out = []
    for s in scores:
        if s == math.inf:
            out.append(1.0)
        elif not math.isfinite(s):
            out.append(0.0)
        else:
            out.append((s - lo) / (hi - lo) if hi > lo else 0.5)
    return out


def _zscore(scores: list[float]) -> list[float]:
    finite = [s for s in scores if math.isfinite(s)]
    mean = sum(finite) / len(finite) if finite else 0.0
    std = math.sqrt(sum((s - mean) ** 2 for s in finite) / len(finite)) if finite else 0.0
    z = [(s - mean) / std if std > 0 else 0.0 for s in finite]
    lo, hi = (min(z) - 1.0, max(z) + 1.0) if z else (-1.0, 1.0)
    out, it = [], iter(z)
    for s in scores:
        out.append(next(it) if math.isfinite(s) else (hi if s == math.inf else lo))
    return out


def normalize(scores: Sequence[float], groups: Sequence[Sequence[int]], how: str) -> list[float]:
    """``scores`` normalised within each group of indices (see the module docstring)."""
    out = [float(s) for s in scores]
    if how == "none":
        return out
    fn = _minmax if how == "minmax" else _zscore
    for idx in groups:
        for i, v in zip(idx, fn([out[i] for i in idx]), strict=True):
            out[i] = v
    return out


class WeightedScorer(Scorer):
    description = "weighted sum of other scorers, each normalised per example (minmax, zscore or none)"
    Config = WeightedConfig
    config: WeightedConfig

    def __init__(self, config: WeightedConfig | None = None) -> None:
        super().__init__(config)
        self.parts: list[Scorer] = [p.build() for p in self.config.parts]  # type: ignore[misc]

    @property  # type: ignore[override]
    def pool(self) -> ModelPool | None:
        return self.parts[0].pool if self.parts else None

    @pool.setter
    def pool(self, value: ModelPool | None) -> None:
        for part in self.parts:
            part.pool = value

    @classmethod
    def recipe_problems(cls, config: ComponentConfig, models: Sequence[str]) -> list[Problem]:
        """Each part's own cross-checks, at ``parts.<k>.params.<path>``."""
        problems = []
        for k, part in enumerate(getattr(config, "parts", [])):
            inner = part.build()
            for p in type(inner).recipe_problems(inner.config, models):
                problems.append(Problem(f"parts.{k}.params" + (f".{p.path}" if p.path else ""), p.message))
        return problems

    def bind(self, members: Sequence[Member]) -> None:
        super().bind(members)
        for part in self.parts:
            part.bind(members)

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        if not candidates:
            return []
        groups: dict[tuple[str, str], list[int]] = {}
        for i, c in enumerate(candidates):
            groups.setdefault((c.example.id, c.prefix), []).append(i)
        total = [0.0] * len(candidates)
        for spec, part in zip(self.config.parts, self.parts, strict=True):
            scores = part.score(candidates)
            if len(scores) != len(candidates):
                got, want = len(scores), len(candidates)
                raise PluginError(f"scorer {spec.type!r} returned {got} scores for {want} candidates")
            for i, v in enumerate(normalize(scores, list(groups.values()), self.config.normalize)):
                total[i] += spec.weight * v
        return total
