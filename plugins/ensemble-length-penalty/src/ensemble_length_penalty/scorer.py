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
from typing import TYPE_CHECKING, Any

from ensemble_cli.core.components import Candidate, ComponentConfig, Scorer
from ensemble_cli.errors import PluginError, Problem, RecipeError, RegistryError
from ensemble_cli.plugins import get_registry
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

if TYPE_CHECKING:
    from ensemble_cli.core.pool import ModelPool


def length_bonus(n: int, alpha: float) -> float:
    """``ln lp(n) = alpha * ln((5 + n) / 6)``: what the scorer adds to a base score for ``n`` tokens."""
    return alpha * math.log((5 + n) / 6)


# -- the wrapped scorer's spec ------------------------------------------------------------------


def _details(loc: tuple[str | int, ...], value: Any, kind: str, message: str) -> InitErrorDetails:
    # The host turns "extra_forbidden"/"missing" into "unknown field"/"required"; keep those types
    # and carry every other message over as is ("{message}": no str.format surprises with braces).
    if kind in ("extra_forbidden", "missing"):
        return InitErrorDetails(type=kind, loc=loc, input=value)
    error = PydanticCustomError(kind, "{message}", {"message": message})
    return InitErrorDetails(type=error, loc=loc, input=value)


class ScorerSpec(ComponentConfig):
    """A scorer as a recipe writes one, ``{type: logprob, params: {...}}`` (a bare name is fine).

    Validating a spec looks the type up in the host's registry (``get_registry()``) and validates
    ``params`` against that scorer's ``Config``, so ``ensemble recipes validate`` reports a bad
    wrapped scorer with its full path (``scorer.params.base.params.x``) before any model loads.
    """

    type: str = Field("logprob", description="a registered scorer's name")
    params: dict[str, Any] = Field(default_factory=dict, description="that scorer's params")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value

    @field_validator("params", mode="before")
    @classmethod
    def _empty_params(cls, value: Any) -> Any:
        return {} if value is None else value  # `params:` with nothing after it

    @model_validator(mode="after")
    def _check_against_registry(self) -> ScorerSpec:
        try:
            cls = get_registry().get("scorer", self.type)
        except RegistryError as exc:
            details = [_details(("type",), self.type, "unknown_scorer", str(exc))]
            raise ValidationError.from_exception_data(type(self).__name__, details) from None
        try:
            cls.Config.model_validate(self.params)
        except ValidationError as exc:
            details = [
                _details(("params", *e["loc"]), e["input"], e["type"], e["msg"]) for e in exc.errors()
            ]
            raise ValidationError.from_exception_data(type(self).__name__, details) from None
        return self

    def build(self) -> Scorer:
        """The wrapped scorer, ``cls(cls.Config(**params))``; errors are ``ensemble_cli`` errors."""
        cls = get_registry().get("scorer", self.type)  # RegistryError, with "did you mean"
        try:
            config = cls.Config.model_validate(self.params)
        except ValidationError as exc:
            problems = [Problem(".".join(["params", *map(str, e["loc"])]), e["msg"]) for e in exc.errors()]
            raise RecipeError(problems, f"base scorer {self.type!r}") from None
        scorer = cls(config)
        if not isinstance(scorer, Scorer):  # the registry guarantees the class; be explicit anyway
            raise PluginError(f"{self.type!r} did not build a Scorer")
        return scorer


# -- the component ------------------------------------------------------------------------------


class LengthPenaltyConfig(ComponentConfig):
    base: ScorerSpec = Field(default_factory=ScorerSpec, description="the scorer whose scores are adjusted")
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
        self.base = self.config.base.build()

    # The pipeline sets ``pool`` on the scorer it built; the wrapped scorer may need it (a reward
    # model scorer loads its model from the pool), so the wrapper hands it through.
    @property  # type: ignore[override]
    def pool(self) -> ModelPool | None:
        return self.base.pool

    @pool.setter
    def pool(self, value: ModelPool | None) -> None:
        self.base.pool = value

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
