"""The ``length-penalty`` scorer: another scorer's score plus a length bonus in GNMT's shape.

For every candidate ``c`` of a round, with ``n`` the number of tokens its writer produced
(``len(c.segment.token_ids)``, a final EOS token included)::

    score(c) = base(c) + ln lp(n),      lp(n) = ((5 + n) / 6) ** alpha     (Wu et al., 2016)
             = base(c) + alpha * ln((5 + n) / 6)

``base`` is the wrapped scorer (any registered scorer, ``logprob`` by default), resolved through
the host's registry. Properties of the rule:

- ``alpha = 0`` gives exactly the base scores; the bonus is 0 at ``n = 1``, so an immediate EOS
  keeps its base score, and it grows with ``n`` with diminishing returns (at ``alpha = 0.6``:
  1 → 4 tokens adds 0.24, 4 → 8 adds 0.22, 16 → 32 adds 0.34, 31 → 32 adds 0.016). It mostly
  lifts candidates out of the "a few tokens, then EOS" regime and barely separates long ones.
- The rule is additive, so it means the same for any base scorer whatever the sign of its
  scores. The bonus is in the base's units (nats per token for ``logprob``): pick ``alpha``
  relative to the spread of the base scores. Non-finite base scores stay what they are.
- ``n`` is counted in each writer's own tokenizer: the unit the ``reward`` aggregator's
  ``segment_tokens`` budget uses. Tokenizers differ, so the same text can get different bonuses
  from two members (the ``logprob`` scorer's means have the same caveat).

Why not GNMT's own rule. GNMT divides a *summed* log-prob by ``lp(n)``; ``logprob`` returns a
*mean*, so that would be ``mean * n / lp(n)``. For ``alpha <= 1`` the factor ``n / lp(n)`` grows
with ``n`` (1.0 at ``n = 1``, 5.0 at ``n = 8`` for ``alpha = 0.6``), so a negative mean gets *more*
negative the longer the candidate: compared with the mean, GNMT's normalization favours short
candidates *more*, the opposite of what this scorer is for. Example: an immediate EOS with
log-prob -0.3 against an 8-token segment with mean -0.2. ``logprob`` keeps the segment
(-0.2 > -0.3), GNMT at 0.6 keeps the EOS (-0.3 > -1.01), this rule keeps the segment by a wider
margin (-0.2 + 0.46 = 0.26 > -0.3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ensemble_cli.core.components import Candidate, ComponentConfig, Member, Scorer
from ensemble_cli.errors import PluginError
from ensemble_cli.nested_spec import ScorerSpec
from pydantic import Field

if TYPE_CHECKING:
    from ensemble_cli.core.pool import ModelPool


def length_bonus(n: int, alpha: float) -> float:
    """``ln lp(n) = alpha * ln((5 + n) / 6)``: what the scorer adds to a base score for ``n`` tokens."""
    return alpha * math.log((5 + n) / 6)


# -- the component ------------------------------------------------------------------------------


class LengthPenaltyConfig(ComponentConfig):
    base: ScorerSpec = Field(
        default_factory=lambda: ScorerSpec(type="logprob"), description="the scorer whose scores are adjusted"
    )
    alpha: float = Field(
        0.6, ge=0, allow_inf_nan=False, description="GNMT exponent: adds alpha * ln((5 + n) / 6) for n tokens"
    )


class LengthPenaltyScorer(Scorer):
    """Adds ``alpha * ln((5 + n) / 6)`` (GNMT's ``ln lp(n)``) to a wrapped scorer's score."""

    description = "wraps a scorer and adds alpha*ln((5+n)/6) for an n-token candidate (GNMT's lp, in log)"
    Config = LengthPenaltyConfig
    config: LengthPenaltyConfig

    def __init__(self, config: LengthPenaltyConfig | None = None) -> None:
        super().__init__(config)
        self.base: Scorer = self.config.base.build()  # type: ignore[assignment]

    # The pipeline sets ``pool`` on the scorer it built; the wrapped scorer may need it (a reward
    # model scorer loads its model from the pool), so the wrapper hands it through.
    @property  # type: ignore[override]
    def pool(self) -> ModelPool | None:
        return self.base.pool

    @pool.setter
    def pool(self, value: ModelPool | None) -> None:
        self.base.pool = value

    def bind(self, members: Sequence[Member]) -> None:
        """The wrapped scorer may score under a member's model (``logprob`` with ``under``)."""
        super().bind(members)
        self.base.bind(members)

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        scores = self.base.score(candidates)
        if len(scores) != len(candidates):
            name, got, want = self.config.base.type, len(scores), len(candidates)
            raise PluginError(f"scorer {name!r} returned {got} scores for {want} candidates")
        alpha = self.config.alpha
        return [
            float(s) + length_bonus(len(c.segment.token_ids), alpha)
            for s, c in zip(scores, candidates, strict=True)
        ]
