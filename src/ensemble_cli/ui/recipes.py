"""Which recipes the playground may run besides the served one: a recipe folder (``--recipes DIR``)
and the builder's "try it".

A server runs only weights its operator loaded, so another recipe is runnable when every member is
a model already in the process's pool (the same generator and the same options: the pool's spec
key), and no selector, aggregator or scorer would load a model of its own (a param naming a model
or a path, e.g. a ``prm`` scorer) unless that component is exactly the served recipe's. A runnable
recipe is added to the server's ``Pipelines`` under its name and the page then generates through
``POST /v1/chat/completions`` with ``model: <its name>``, like any client: the same engine, queue,
caps and key. The others are listed with the reason they cannot run.

The folder is read again on every listing (new files show up without a restart); only ``*.yaml``
and ``*.yml`` files directly in it are read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.pool import spec_key
from ..errors import EnsembleError, RecipeError
from ..recipe import ResolvedRecipe, load_recipe_data, validate_recipe
from ..registry import Registry
from ..server.pipelines import Pipelines, model_keys

MAX_FILES = 200  #: files listed from one folder (a folder is a human's collection, not a dataset)


def unavailable(resolved: ResolvedRecipe, pipelines: Pipelines) -> str | None:
    """Why this server cannot run ``resolved`` with what it has loaded (``None``: it can). The reason
    starts with its kind (``not loaded:``, ``own model:``, ``name taken:``; ``invalid:`` from
    ``check_recipe_data``), so a label cut short in the page still says it."""
    served = pipelines.recipe
    if resolved.name in pipelines.model_names:
        return f"name taken: {resolved.name!r} is the served recipe's or a member's (rename it)"
    served_keys = {spec_key(m.type, m.config) for m in served.models}
    pool = pipelines.base.pool
    for m in resolved.models:
        key = spec_key(m.type, m.config)
        if key not in served_keys and key not in pool:
            model = getattr(m.config, "model", None)
            what = f"{m.type}: {model}" if model else m.type
            return (f"not loaded: member {m.name!r} ({what}) is not loaded on this server "
                    "(same model and options needed)")
    for kind in ("selector", "aggregator", "scorer"):
        mine, theirs = getattr(resolved, kind), getattr(served, kind)
        if mine is None:
            continue
        spec = mine.as_dict()
        named = model_keys(spec, kind)
        if named and (theirs is None or theirs.as_dict() != spec):
            return (f"own model: its {kind} {mine.type!r} loads a model of its own ({named[0]}), "
                    "which this server has not loaded")
    return None


def check_recipe_data(data: dict[str, Any], registry: Registry, pipelines: Pipelines,
                      source: str) -> tuple[ResolvedRecipe | None, str | None]:
    """Validate recipe data and check it runs here: ``(resolved, None)`` or ``(resolved or None, reason)``."""
    try:
        resolved = validate_recipe(data, registry, source=source)
    except RecipeError as err:
        first = err.problems[0] if err.problems else None
        return None, f"invalid: {first}" if first else f"invalid: {err}"
    except EnsembleError as err:
        return None, f"invalid: {err}"
    return resolved, unavailable(resolved, pipelines)


def folder_recipes(folder: Path, registry: Registry, pipelines: Pipelines) -> list[dict[str, Any]]:
    """Every recipe file in ``folder``: its name, aggregator, members, and ``ok`` or the ``reason`` not."""
    files = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())[:MAX_FILES]
    out = []
    for path in files:
        entry: dict[str, Any] = {"file": path.name, "name": None, "aggregator": None, "members": []}
        try:
            data = load_recipe_data(path)
        except EnsembleError as err:
            out.append({**entry, "ok": False, "reason": f"unreadable: {err}"})
            continue
        resolved, reason = check_recipe_data(data, registry, pipelines, str(path))
        if resolved is not None:
            entry.update(name=resolved.name, aggregator=resolved.aggregator.type,
                         members=[m.name for m in resolved.models])
        out.append({**entry, "ok": reason is None, "reason": reason})
    return out


def use(resolved: ResolvedRecipe, pipelines: Pipelines) -> dict[str, Any]:
    """Serve ``resolved`` (already checked) and say how the page addresses it."""
    pipelines.add(resolved)
    return {"model": resolved.name, "hash": resolved.hash, "aggregator": resolved.aggregator.type,
            "members": [m.name for m in resolved.models]}


__all__ = ["check_recipe_data", "folder_recipes", "unavailable", "use"]
