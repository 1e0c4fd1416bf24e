"""Turn what a Python caller hands ``Ensemble.from_recipe`` into a ``ResolvedRecipe``.

A path goes through ``load_recipe`` exactly as ``ensemble run RECIPE --set ...`` does; a dict (or
a pydantic ``Recipe``) goes through the same ``apply_overrides`` and ``validate_recipe``, so every
mistake is the same ``RecipeError`` with YAML paths and did-you-mean, wherever the recipe came
from. Overrides are ``--set`` strings (``"generation.max_tokens=64"``, value parsed as YAML) or a
mapping of dotted keys to values (``{"generation.max_tokens": 64}``, values taken as given).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..recipe import (
    Recipe,
    ResolvedRecipe,
    apply_overrides,
    generation_settings,
    load_recipe,
    validate_recipe,
)
from ..registry import Registry

#: what ``from_recipe`` accepts as overrides
Overrides = Sequence[str] | Mapping[str, Any] | None
RecipeSource = str | Path | Mapping[str, Any] | Recipe | ResolvedRecipe


def resolve(recipe: RecipeSource, overrides: Overrides = None, registry: Registry | None = None) -> ResolvedRecipe:
    """The validated recipe, with ``overrides`` applied first (CLI > YAML > defaults)."""
    from ..plugins import get_registry

    if isinstance(overrides, str):  # a lone "a.b=1" would be iterated letter by letter
        overrides = [overrides]
    changes: Sequence[str] | Mapping[str, Any] = overrides or ()
    registry = registry if registry is not None else get_registry()
    if isinstance(recipe, str | Path):
        return load_recipe(recipe, changes, registry)
    if isinstance(recipe, ResolvedRecipe):
        if not changes:
            return recipe
        data, source = recipe.recipe.model_dump(mode="json", exclude_unset=True), recipe.source
    elif isinstance(recipe, Recipe):
        data, source = recipe.model_dump(mode="json", exclude_unset=True), None
    elif isinstance(recipe, Mapping):
        data, source = dict(recipe), None
    else:
        raise UsageError(
            f"recipe must be a path, a dict, a Recipe or a ResolvedRecipe, got {type(recipe).__name__}"
        )
    return validate_recipe(apply_overrides(data, changes), registry, source=source)


def with_sampling(resolved: ResolvedRecipe, sampling: Mapping[str, Any]) -> ResolvedRecipe:
    """``resolved`` with a call's sampling fields in its ``generation`` block (validated; unknown
    field → ``UsageError`` naming it). Its ``as_dict()`` and ``hash`` are those of
    ``ensemble run --set generation.<field>=...``, so the records of such a call say what ran."""
    if not sampling:
        return resolved
    spec = generation_settings(resolved.recipe.generation, sampling)
    recipe = resolved.recipe.model_copy(update={"generation": spec})
    return dataclasses.replace(resolved, recipe=recipe, generation=spec.settings())
