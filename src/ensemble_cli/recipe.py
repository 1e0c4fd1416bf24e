"""Recipes: the YAML that names the models, selector, aggregator, scorer and sampling settings.

Pydantic lives here, at the edge: ``Recipe`` checks the shape, then every component's ``params``
is validated against that component's own ``Config``. Validation collects *all* problems, each
with its dotted YAML path (``aggregator.params.segment_tokns: unknown field (did you mean
segment_tokens?)``), so one run of ``ensemble recipes validate`` shows everything to fix. Only
classes and Configs are touched; no model is ever loaded here.

Precedence is CLI > YAML > defaults: ``apply_overrides`` applies ``--set a.b.c=value`` to the
raw data before validation, so overridden values are validated exactly like written ones.
"""

from __future__ import annotations

import copy
import hashlib
import json
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .core.components import Component, ComponentConfig
from .core.types import GenerationSettings
from .errors import EnsembleError, Problem, RecipeError, UsageError
from .nested_spec import SpecShape
from .plugins import get_registry
from .registry import Registry, suggest

# -- the recipe shape ---------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComponentSpec(_Strict, SpecShape):
    """``{type: reward, params: {...}}``; a bare string (``selector: all``) means ``{type: all}``."""


class ModelSpec(_Strict):
    """One ensemble member: its name (used in attribution and logs) and its generator."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    generator: str = "hf"
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params", mode="before")
    @classmethod
    def _empty_params(cls, value: Any) -> Any:
        return {} if value is None else value  # `params:` with nothing after it


class GenerationSpec(_Strict):
    """Sampling settings shared by all members (becomes ``core.types.GenerationSettings``)."""

    max_tokens: int = Field(256, gt=0)
    temperature: float = Field(0.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int | None = 1234
    stop: list[str] = Field(default_factory=list)
    ignore_eos: bool = False  # keep generating past end-of-sequence (benchmarks, like vLLM's flag)
    batch_invariant: bool = False  # a row's result never depends on its batch (hf: per-row kernels, slower)

    @field_validator("stop", mode="before")
    @classmethod
    def _single_stop(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def settings(self) -> GenerationSettings:
        return GenerationSettings(**self.model_dump())


class Recipe(_Strict):
    """The whole recipe file."""

    name: str
    description: str = ""
    models: list[ModelSpec] = Field(min_length=1)
    selector: ComponentSpec = Field(default_factory=lambda: ComponentSpec(type="all"))
    aggregator: ComponentSpec
    scorer: ComponentSpec | None = None
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    #: what running it needs beyond a CPU and the offline default models: ``gpu``, ``server`` (a
    #: running model server it talks to), ``network`` (downloads), ``vllm`` (vLLM importable),
    #: ``large-models`` (the weight packages of the extra ``large-models``: the Qwen2.5-Coder aliases).
    #: The integration tests and CI run every recipe in ``recipes/`` that requires nothing.
    requires: list[Literal["gpu", "server", "network", "vllm", "large-models"]] = Field(default_factory=list)


# -- the resolved recipe ------------------------------------------------------------------------


@dataclass
class ResolvedComponent:
    """A recipe component with its class and validated config; ``build()`` makes the instance."""

    name: str  # the model's name for generators, else the kind ("aggregator", ...)
    kind: str
    type: str
    cls: type[Component]
    config: ComponentConfig
    #: the plugin that registered ``type`` (named in errors the component raises at run time)
    plugin: str | None = None

    def build(self) -> Component:
        return self.cls(self.config)

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "params": self.config.model_dump(mode="json")}


@dataclass
class ResolvedRecipe:
    """A valid recipe whose components are all known; still nothing loaded."""

    recipe: Recipe
    models: list[ResolvedComponent]
    selector: ResolvedComponent
    aggregator: ResolvedComponent
    scorer: ResolvedComponent | None
    generation: GenerationSettings
    source: str | None = None

    @property
    def name(self) -> str:
        return self.recipe.name

    def build(self, component: ResolvedComponent) -> Component:
        """Instantiate one component as ``cls(config)``."""
        return component.build()

    def as_dict(self) -> dict[str, Any]:
        """The fully resolved recipe as plain JSON-able data (defaults filled in from the Configs)."""
        return {
            "name": self.recipe.name,
            "description": self.recipe.description,
            "models": [
                {"name": m.name, "generator": m.type, "params": m.config.model_dump(mode="json")}
                for m in self.models
            ],
            "selector": self.selector.as_dict(),
            "aggregator": self.aggregator.as_dict(),
            "scorer": self.scorer.as_dict() if self.scorer else None,
            "generation": _generation_dict(self.recipe.generation),
        }

    @property
    def hash(self) -> str:
        """First 16 hex chars of the sha256 of the canonical JSON of ``as_dict()``."""
        canonical = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _generation_dict(spec: GenerationSpec) -> dict[str, Any]:
    """The generation settings as recorded and hashed. ``batch_invariant`` appears only when on, so the
    recipes and output files written before it existed keep their hash (``--resume``, ``--baselines``)."""
    data = spec.model_dump(mode="json")
    if not data["batch_invariant"]:
        del data["batch_invariant"]
    return data


# -- reading and overriding ---------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, typing.Hashable) and key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    text = f"{context}, {problem}" if context else problem
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {text}"
    return text


def load_recipe_data(path: str | Path) -> dict[str, Any]:
    """Parse a recipe file into plain data; YAML errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"recipe file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read recipe file {path}: {exc}") from exc
    return parse_recipe_text(text, str(path))


def parse_recipe_text(text: str, source: str | None = None) -> dict[str, Any]:
    """Parse recipe YAML text (a file's, or the web UI builder's) into plain data; errors name the line."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        raise RecipeError([Problem("", f"YAML error at {_yaml_problem(exc)}")], source) from exc
    if data is None:
        raise RecipeError("the file is empty", source)
    if not isinstance(data, dict):
        raise RecipeError(f"a recipe must be a YAML mapping, not a {type(data).__name__}", source)
    return data


def _parse_override(override: str) -> tuple[list[str], Any]:
    key, sep, raw = override.partition("=")
    parts = key.strip().split(".")
    if not sep or not key.strip() or any(not p.strip() for p in parts):
        raise UsageError(f"invalid override {override!r}: expected --set path.to.key=value")
    if raw.strip() == "":
        return [p.strip() for p in parts], ""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        problem = _yaml_problem(exc)
        raise UsageError(f"invalid override {override!r}: value is not valid YAML ({problem})") from exc
    return [p.strip() for p in parts], value


def _index(override: str, where: str, part: str, items: list) -> int:
    if not (part.isascii() and part.isdigit()):
        raise UsageError(f"invalid override {override!r}: {where or 'the recipe'} is a list, use an index")
    index = int(part)
    if index > len(items):
        raise UsageError(f"invalid override {override!r}: {where} has {len(items)} item(s), no index {index}")
    if index == len(items):  # one past the end appends
        items.append({})
    return index


def apply_overrides(data: dict[str, Any], overrides: Sequence[str] | Mapping[str, Any]) -> dict[str, Any]:
    """Apply ``path.to.key=value`` overrides (value parsed as YAML) to a copy of ``data``.

    Missing mappings along the path are created (``scorer.type=logprob`` adds a scorer); list
    items are addressed by index (``models.0.params.dtype=float32``); index ``len`` appends.
    A mapping ``{"path.to.key": value}`` (the Python API) sets the values as given, unparsed.
    """
    result = copy.deepcopy(data)
    if isinstance(overrides, Mapping):
        shown = {key: f"{key}={value!r}" for key in overrides for value in [overrides[key]]}
        pairs = [(shown[key], _split_key(shown[key], str(key)), value) for key, value in overrides.items()]
    else:
        pairs = [(override, *_parse_override(override)) for override in overrides]
    for override, parts, value in pairs:
        node: Any = result
        depth = 0
        while depth < len(parts):
            where = ".".join(parts[:depth])
            if isinstance(node, list):
                key: Any = _index(override, where, parts[depth], node)
                used = 1
            elif isinstance(node, dict):
                key, used = _dict_key(node, parts[depth:])
            else:
                kind = type(node).__name__
                raise UsageError(f"invalid override {override!r}: {where} is a {kind}, not a mapping or list")
            depth += used
            if depth == len(parts):
                node[key] = copy.deepcopy(value)
            else:
                if isinstance(node, dict) and node.get(key) is None:
                    node[key] = {}
                node = node[key]
    return result


def _dict_key(node: dict[str, Any], rest: list[str]) -> tuple[str, int]:
    """The key of ``node`` that the path ``rest`` starts with, and how many path parts it takes.

    A key with dots in it (a member named ``coder-1.5b`` in ``weights``) would otherwise be
    unreachable: the longest run of parts that names an existing key wins, so
    ``weights.coder-1.5b=0.8`` sets that member's weight. A key that does not exist yet takes
    one part (``scorer.type=logprob`` creates ``scorer``).
    """
    for used in range(len(rest), 1, -1):
        joined = ".".join(rest[:used])
        if joined in node:
            return joined, used
    return rest[0], 1


def _split_key(override: str, key: str) -> list[str]:
    parts = key.strip().split(".")
    if not key.strip() or any(not p.strip() for p in parts):
        raise UsageError(f"invalid override {override!r}: expected a dotted key such as generation.max_tokens")
    return [p.strip() for p in parts]


def generation_settings(base: GenerationSpec, changes: Mapping[str, Any]) -> GenerationSpec:
    """``base`` with ``changes`` (a call's sampling arguments) applied, validated like the recipe's
    ``generation`` block: an unknown field or a bad value is a ``UsageError`` naming it."""
    try:
        return GenerationSpec.model_validate({**base.model_dump(), **changes})
    except ValidationError as exc:
        problems = "; ".join(str(p) for p in _pydantic_problems(exc, GenerationSpec))
        raise UsageError(f"invalid sampling settings: {problems}") from exc


# -- validation ---------------------------------------------------------------------------------


def _unwrap(tp: Any) -> Any:
    """``X | None`` → ``X`` (Annotated too)."""
    while True:
        origin = typing.get_origin(tp)
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if origin is typing.Annotated or (origin in (typing.Union, types.UnionType) and len(args) == 1):
            tp = args[0]
        else:
            return tp


def _field_names(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """Field names (and aliases) of the model found at ``loc`` inside ``model``, for suggestions."""
    tp: Any = model
    for part in loc:
        tp = _unwrap(tp)
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        is_model = isinstance(tp, type) and issubclass(tp, BaseModel)
        if is_model and isinstance(part, str) and part in tp.model_fields:
            tp = tp.model_fields[part].annotation
        elif origin in (list, tuple, Sequence) and args and isinstance(part, int):
            tp = args[0]
        elif origin is dict and len(args) == 2:
            tp = args[1]
        else:
            return []
    tp = _unwrap(tp)
    if not (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return []
    names = list(tp.model_fields)
    names += [f.alias for f in tp.model_fields.values() if f.alias and f.alias not in names]
    return names


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _pydantic_problems(exc: ValidationError, model: type[BaseModel], prefix: str = "") -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = ".".join([prefix, *map(str, loc)] if prefix else map(str, loc))
        if err["type"] == "extra_forbidden":
            close = suggest(str(loc[-1]), _field_names(model, loc[:-1])) if loc else None
            message = "unknown field" + (f" (did you mean {close}?)" if close else "")
        elif err["type"] == "missing":
            message = "required"
        else:
            message = err["msg"][:1].lower() + err["msg"][1:]
            if isinstance(err.get("input"), (str, int, float, bool)) or err.get("input") is None:
                message += f" (got {_short(err.get('input'))})"
        problems.append(Problem(path, message))
    return problems


@dataclass
class _Site:
    """Where a component is declared in the raw data."""

    kind: str
    name: str
    type_path: str
    params_path: str
    type: Any
    params: Any


def _params(spec: dict[str, Any]) -> Any:
    params = spec.get("params")
    return {} if params is None else params


def _sites(data: dict[str, Any]) -> list[_Site]:
    """Every component declaration in the raw data that is well-formed enough to check."""
    sites = []
    models = data.get("models")
    if isinstance(models, list):
        for i, model in enumerate(models):
            if isinstance(model, dict):
                sites.append(
                    _Site(
                        "generator",
                        str(model.get("name", f"models.{i}")),
                        f"models.{i}.generator",
                        f"models.{i}.params",
                        model.get("generator", "hf"),
                        _params(model),
                    )
                )
    defaults = {"selector": {"type": "all"}}
    for kind in ("selector", "aggregator", "scorer"):
        spec = data.get(kind, defaults.get(kind))
        if isinstance(spec, str):
            spec = {"type": spec}
        if isinstance(spec, dict):
            sites.append(_Site(kind, kind, f"{kind}.type", f"{kind}.params", spec.get("type"), _params(spec)))
    return sites


def _check_site(site: _Site, registry: Registry) -> tuple[list[Problem], type[Component] | None, Any]:
    """Problems of one component declaration, its class (if the type is known) and its config."""
    if not isinstance(site.type, str):
        return [], None, None  # the shape check reports it
    try:
        cls = registry.get(site.kind, site.type)
    except EnsembleError as exc:
        return [Problem(site.type_path, str(exc))], None, None
    if not isinstance(site.params, dict):
        return [], cls, None  # the shape check reports it
    try:
        return [], cls, cls.Config.model_validate(site.params)
    except ValidationError as exc:
        return _pydantic_problems(exc, cls.Config, site.params_path), cls, None
    except Exception as exc:  # a plugin's own validator failing some other way
        return [Problem(site.params_path, f"{type(exc).__name__}: {exc}")], cls, None


def _duplicate_names(data: dict[str, Any]) -> list[Problem]:
    problems, first = [], {}
    models = data.get("models")
    for i, model in enumerate(models if isinstance(models, list) else []):
        name = model.get("name") if isinstance(model, dict) else None
        if not isinstance(name, str):
            continue
        if name in first:
            message = f"duplicate model name {name!r} (also models.{first[name]}.name)"
            problems.append(Problem(f"models.{i}.name", message))
        else:
            first[name] = i
    return problems


def _recipe_problems(site: _Site, cls: type[Component], config: ComponentConfig, data: dict[str, Any]) -> list[Problem]:
    """The component's own cross-checks against the recipe (``Component.recipe_problems``)."""
    models = data.get("models")
    names = [str(m.get("name", "")) for m in models if isinstance(m, dict)] if isinstance(models, list) else []
    try:
        found = cls.recipe_problems(config, names)
    except EnsembleError as exc:
        return [Problem(site.params_path, str(exc))]
    return [Problem(f"{site.params_path}.{p.path}" if p.path else site.params_path, p.message) for p in found]


_ORDER = list(Recipe.model_fields)


def _sort_key(problem: Problem) -> tuple:
    head, *rest = problem.path.split(".") if problem.path else [""]
    top = _ORDER.index(head) if head in _ORDER else len(_ORDER)
    return (top, [(0, int(p), "") if p.isascii() and p.isdigit() else (1, 0, p) for p in rest])


def _backend_problems(
    data: dict[str, Any], models: list[ResolvedComponent], aggregator: ResolvedComponent | None
) -> list[Problem]:
    """Token-level aggregators need generators whose sessions can step token by token."""
    if aggregator is None or not getattr(aggregator.cls, "token_level", False):
        return []
    names = [m.get("name") if isinstance(m, dict) else None for m in data.get("models") or []]
    return [
        Problem(
            f"models.{names.index(m.name) if m.name in names else '?'}.generator",
            f"generator {m.type!r} is not supported by token-level aggregator {aggregator.type!r} "
            "(not supported by this backend: it cannot step token by token; use generator 'hf')",
        )
        for m in models
        if not getattr(m.cls, "token_level", True)
    ]


def _needs_scorer(cls: type[Component] | None, config: ComponentConfig | None) -> bool:
    """The aggregator's own say when its params are valid (``scorer_needed``), else its class flag."""
    scorer_needed = getattr(cls, "scorer_needed", None)
    if config is not None and callable(scorer_needed):
        return bool(scorer_needed(config))
    return bool(getattr(cls, "needs_scorer", False))


def validate_recipe(data: dict[str, Any], registry: Registry, source: str | None = None) -> ResolvedRecipe:
    """Check shape, component types, every component's params and cross-field rules at once.

    Raises ``RecipeError`` carrying every problem found, sorted in recipe order.
    """
    if not isinstance(data, dict):
        raise RecipeError(f"a recipe must be a mapping, not a {type(data).__name__}", source)
    problems: list[Problem] = []
    recipe: Recipe | None = None
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        problems += _pydantic_problems(exc, Recipe)

    resolved: dict[str, ResolvedComponent] = {}
    models: list[ResolvedComponent] = []
    for site in _sites(data):
        site_problems, cls, config = _check_site(site, registry)
        problems += site_problems
        if site.kind == "aggregator" and _needs_scorer(cls, config) and data.get("scorer") is None:
            problems.append(Problem("scorer", f"required by aggregator {site.type!r}"))
        if cls is None or config is None:
            continue
        problems += _recipe_problems(site, cls, config, data)
        plugin = registry.lookup(site.kind, site.type).plugin
        component = ResolvedComponent(site.name, site.kind, site.type, cls, config, plugin)
        if site.kind == "generator":
            models.append(component)
        else:
            resolved[site.kind] = component
    problems += _duplicate_names(data)
    problems += _backend_problems(data, models, resolved.get("aggregator"))

    if problems or recipe is None:
        unique = list(dict.fromkeys(problems))
        raise RecipeError(sorted(unique, key=_sort_key), source)
    return ResolvedRecipe(
        recipe=recipe,
        models=models,
        selector=resolved["selector"],
        aggregator=resolved["aggregator"],
        scorer=resolved.get("scorer"),
        generation=recipe.generation.settings(),
        source=source,
    )


def load_recipe(
    path: str | Path, overrides: Sequence[str] | Mapping[str, Any] = (), registry: Registry | None = None
) -> ResolvedRecipe:
    """Read, override and validate a recipe file (registry defaults to the process's plugins)."""
    registry = registry if registry is not None else get_registry()
    data = apply_overrides(load_recipe_data(path), overrides)
    return validate_recipe(data, registry, source=str(path))
