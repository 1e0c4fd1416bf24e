"""Component specs nested inside another component's params, validated against the registry.

A wrapper component (a ``length-penalty`` scorer around another scorer, a ``weighted`` scorer
combining several) names its inner components the way a recipe does: ``{type: logprob, params:
{...}}`` or a bare name. Declaring such a field as ``ScorerSpec`` (or ``nested_spec("selector")``)
makes validation look the type up in the registry (``get_registry()``) and validate ``params``
against that component's own ``Config``, so ``ensemble recipes validate`` reports a bad inner
component with its full YAML path (``scorer.params.base.params.x``) before any model loads.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from .core.components import KINDS, Component, ComponentConfig
from .errors import PluginError, Problem, RecipeError, RegistryError


def _details(loc: tuple[str | int, ...], value: Any, kind: str, message: str) -> InitErrorDetails:
    # The host turns "extra_forbidden"/"missing" into "unknown field"/"required"; keep those types
    # and carry every other message over as is ("{message}": no str.format surprises with braces).
    if kind in ("extra_forbidden", "missing"):
        return InitErrorDetails(type=kind, loc=loc, input=value)
    error = PydanticCustomError(kind, "{message}", {"message": message})
    return InitErrorDetails(type=error, loc=loc, input=value)


class SpecShape(BaseModel):
    """The ``{type, params}`` shape shared by recipe components and nested specs: a bare string
    means ``{type: <string>}`` and ``params:`` left empty means ``{}``."""

    type: str = Field(description="a registered component's name")
    params: dict[str, Any] = Field(default_factory=dict, description="that component's params")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value

    @field_validator("params", mode="before")
    @classmethod
    def _empty_params(cls, value: Any) -> Any:
        return {} if value is None else value  # `params:` with nothing after it


class NestedSpec(ComponentConfig, SpecShape):
    """``{type, params}`` of a component of kind ``kind`` (a bare name is fine); see the module doc."""

    kind: ClassVar[str] = ""

    @model_validator(mode="after")
    def _check_against_registry(self) -> NestedSpec:
        try:
            cls = _registry().get(self.kind, self.type)
        except RegistryError as exc:
            details = [_details(("type",), self.type, f"unknown_{self.kind}", str(exc))]
            raise ValidationError.from_exception_data(type(self).__name__, details) from None
        try:
            cls.Config.model_validate(self.params)
        except ValidationError as exc:
            details = [
                _details(("params", *e["loc"]), e["input"], e["type"], e["msg"]) for e in exc.errors()
            ]
            raise ValidationError.from_exception_data(type(self).__name__, details) from None
        return self

    def build(self) -> Component:
        """The inner component, ``cls(cls.Config(**params))``; errors are ``ensemble_cli`` errors."""
        cls = _registry().get(self.kind, self.type)  # RegistryError, with "did you mean"
        try:
            config = cls.Config.model_validate(self.params)
        except ValidationError as exc:
            problems = [Problem(".".join(["params", *map(str, e["loc"])]), e["msg"]) for e in exc.errors()]
            raise RecipeError(problems, f"nested {self.kind} {self.type!r}") from None
        component = cls(config)
        if not isinstance(component, KINDS[self.kind]):  # the registry guarantees it; be explicit anyway
            raise PluginError(f"{self.type!r} did not build a {self.kind}")
        return component


def _registry() -> Any:
    from .plugins import get_registry  # late: plugins imports the components that import this

    return get_registry()


def nested_spec(kind: str) -> type[NestedSpec]:
    """The ``NestedSpec`` class for components of ``kind`` (``generator``, ``scorer``, ...)."""
    if kind not in KINDS:
        raise ValueError(f"unknown component kind {kind!r}")
    return type(f"{kind.capitalize()}Spec", (NestedSpec,), {"kind": kind, "__module__": __name__})


class ScorerSpec(NestedSpec):
    """A nested scorer, e.g. the one a ``length-penalty`` or ``weighted`` scorer wraps."""

    kind = "scorer"
