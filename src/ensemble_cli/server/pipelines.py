"""Which pipeline serves a request: the recipe, one member alone, or a per-request override.

``model`` names either the recipe (the whole ensemble) or one member (that member alone, with the
``single`` aggregator: a plain baseline, and the way to get one model's distribution from an
ensemble recipe). A request's ``ensemble`` field may replace the selector, aggregator or scorer;
the result is validated exactly like a recipe (``RecipeError`` → 400 naming the path) and may not
name models (keys such as ``model`` or ``*_path`` are refused): the server only runs weights its
operator chose. Built pipelines are cached (bounded).

The server is one ``Ensemble`` (the Python API's front door, ``ensemble_cli.api``): its recipe is
the served recipe and its pipeline answers ``model: <recipe>``. The variants are pipelines on that
``Ensemble``'s model-pool lease, so no weights are ever loaded twice, and whatever a variant loads
(a scorer named by an override, say) is held by the server's ``Ensemble`` like its own members
and let go when it closes. Variants are ``Pipeline``s rather than ``Ensemble``s of their own
because the engine thread drives them directly (per-request sampling, batching across requests,
cancellation), and an evicted variant must not free models a running job may still use.

``model`` may also name an *extra* recipe added with ``add`` (the web UI's recipe folder and its
builder's "try it", ``ensemble_cli.ui.recipes``): the caller checks first that such a recipe only
uses models this server has loaded; here it is served like the main one (same engine, queue,
caps and key), under its own name. Extras are kept by name (a newer recipe of that name replaces
the older), at most ``MAX_EXTRA``, the oldest dropped first.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from ..core.pipeline import Pipeline
from ..errors import Problem, RecipeError
from ..recipe import ResolvedRecipe, validate_recipe
from .errors import APIError
from .schemas import EnsembleOverride

if TYPE_CHECKING:
    from ..api.ensemble import Ensemble
    from ..registry import Registry

_MODEL_KEYS = ("model", "models", "path", "pretrained", "checkpoint")
MAX_PIPELINES = 32
MAX_EXTRA = 32


def model_keys(value: Any, path: str) -> list[str]:
    """Dotted paths of the keys in ``value`` that name a model or a path (what a request may not set)."""
    found = []
    if isinstance(value, dict):
        for key, sub in value.items():
            k = str(key).lower()
            if k in _MODEL_KEYS or k.endswith(("_model", "_path", "_models")):
                found.append(f"{path}.{key}")
            found += model_keys(sub, f"{path}.{key}")
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            found += model_keys(sub, f"{path}.{i}")
    return found


class Pipelines:
    """The served ``Ensemble``'s pipeline plus lazily built variants, keyed by (model name, override)."""

    def __init__(self, ensemble: Ensemble, registry: Registry | None = None) -> None:
        from ..plugins import get_registry

        self.ensemble = ensemble
        self.base = ensemble.pipeline  # built now (components validated); models load on the engine thread
        self.registry = registry if registry is not None else get_registry()
        self.recipe: ResolvedRecipe = ensemble.resolved
        self.members = ensemble.members
        self._cache: OrderedDict[str, Pipeline] = OrderedDict()
        self._extra: OrderedDict[str, ResolvedRecipe] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def model_names(self) -> list[str]:
        return [self.recipe.name, *[m for m in self.members if m != self.recipe.name]]

    def add(self, resolved: ResolvedRecipe) -> None:
        """Serve ``resolved`` under its name as well (its models must be loaded: the caller's check)."""
        if resolved.name in self.model_names:
            raise ValueError(f"recipe name {resolved.name!r} is taken by the served recipe or a member")
        with self._lock:
            self._extra[resolved.name] = resolved
            self._extra.move_to_end(resolved.name)
            while len(self._extra) > MAX_EXTRA:
                self._extra.popitem(last=False)

    def extra(self, name: str) -> ResolvedRecipe | None:
        with self._lock:
            return self._extra.get(name)

    @property
    def extra_names(self) -> list[str]:
        """The extra recipes served now (oldest first): ``/v1/models`` lists them, as a client may call them."""
        with self._lock:
            return list(self._extra)

    def get(self, model: str | None, override: EnsembleOverride | None) -> tuple[str, Pipeline]:
        """``(key, pipeline)`` for a request; raises ``APIError`` 404 / 400."""
        name = model or self.recipe.name
        extra = self.extra(name) if name not in self.model_names else None
        if name not in self.model_names and extra is None:
            known = ", ".join(repr(m) for m in self.model_names)
            raise APIError(404, f"model {name!r} does not exist; this server has {known}", param="model",
                           code="model_not_found")
        spec = override.model_dump(exclude_none=True) if override is not None else {}
        if name == self.recipe.name and not spec:
            return name, self.base
        key = json.dumps([name, extra.hash if extra is not None else None, spec], sort_keys=True, default=str)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return key, self._cache[key]
        pipeline = self._build(name, spec, extra)
        with self._lock:
            self._cache[key] = pipeline
            while len(self._cache) > MAX_PIPELINES:
                self._cache.popitem(last=False)
        return key, pipeline

    def _build(self, name: str, spec: dict[str, Any], extra: ResolvedRecipe | None = None) -> Pipeline:
        data = (extra or self.recipe).as_dict()
        if extra is None and name != self.recipe.name:  # one member alone
            data["name"] = name
            data["models"] = [m for m in data["models"] if m["name"] == name]
            data["selector"] = {"type": "all"}
            data["aggregator"] = {"type": "single"}
            data["scorer"] = None
        bad = model_keys(spec, "ensemble")
        if bad:
            raise APIError(400, f"{bad[0]}: models cannot be chosen per request; name them in the recipe",
                           param=bad[0])
        data.update(spec)
        try:
            resolved = validate_recipe(data, self.registry, source="the request's ensemble override")
        except RecipeError as exc:
            problems = [Problem(f"ensemble.{p.path}" if p.path else "ensemble", p.message) for p in exc.problems]
            message = "invalid ensemble override: " + "; ".join(str(p) for p in problems)
            raise APIError(400, message, param=problems[0].path if problems else "ensemble") from None
        return Pipeline(resolved, pool=self.base.pool)
