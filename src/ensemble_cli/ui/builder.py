"""The recipe builder's server side: the registry as form schemas, form ↔ YAML, validation by path.

The page renders each component's params from the JSON schema of its pydantic ``Config`` (types,
defaults, bounds, descriptions; plugins' components too, since they come from the same registry),
sends the form back as JSON on every edit and gets the YAML preview plus the problems of
``validate_recipe`` — the validator ``ensemble recipes validate`` runs — keyed by dotted YAML path
(``aggregator.params.segment_tokens``), which the page shows next to the field with that path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from ..core.components import KINDS
from ..errors import EnsembleError, RecipeError
from ..recipe import GenerationSpec, parse_recipe_text, validate_recipe
from ..registry import Registry

#: the order the recipe keys are written in (the order of the README's recipes)
_ORDER = ("name", "description", "models", "selector", "aggregator", "scorer", "generation", "requires")


def component_schemas(registry: Registry) -> dict[str, list[dict[str, Any]]]:
    """Per kind, every registered component with its plugin, description and Config JSON schema."""
    out: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        rows = []
        for comp in registry.components(kind):
            try:
                schema = comp.cls.Config.model_json_schema()
            except Exception as exc:  # a plugin Config pydantic cannot describe: edit its params as YAML
                schema = {"properties": {}, "x-error": f"{type(exc).__name__}: {exc}"}
            rows.append({"name": comp.name, "plugin": comp.plugin, "description": comp.description,
                         "schema": schema})
        out[kind] = rows
    out["generation"] = [{"name": "generation", "plugin": "ensemble-cli", "description": GenerationSpec.__doc__,
                          "schema": GenerationSpec.model_json_schema()}]
    return out


def _clean_params(params: Any) -> Any:
    """Drop the fields the form left empty (they take the Config's default)."""
    if not isinstance(params, Mapping):
        return params
    return {k: v for k, v in params.items() if v is not None and v != ""}


def _component(spec: Any) -> Any:
    if not isinstance(spec, Mapping):
        return spec
    if not spec.get("type"):
        return None
    params = _clean_params(spec.get("params") or {})
    return {"type": spec["type"], "params": params} if params else {"type": spec["type"]}


def form_to_recipe(form: Mapping[str, Any]) -> dict[str, Any]:
    """The builder's form (JSON) as recipe data: empty fields left out, keys in recipe order."""
    data: dict[str, Any] = {}
    for key in _ORDER:
        value = form.get(key)
        if key == "models" and isinstance(value, list):
            value = [
                {k: v for k, v in (("name", m.get("name")), ("generator", m.get("generator") or "hf"),
                                   ("params", _clean_params(m.get("params") or {}))) if v not in (None, {}, "")}
                if isinstance(m, Mapping) else m
                for m in value
            ]
        elif key in ("selector", "aggregator", "scorer"):
            value = _component(value)
        elif key == "generation":
            value = _clean_params(value or {}) or None
        if value not in (None, "", [], {}):
            data[key] = value
    data.update({k: v for k, v in form.items() if k not in _ORDER})  # unknown keys: let the validator say so
    return data


def recipe_yaml(data: Mapping[str, Any]) -> str:
    """Recipe data as the YAML a user would write (block style, insertion order, unicode kept)."""
    return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, default_flow_style=False)


def yaml_to_form(text: str) -> dict[str, Any]:
    """A recipe's YAML as the builder's form: components always ``{type, params}``, members complete."""
    data = parse_recipe_text(text, "builder")
    form: dict[str, Any] = {k: v for k, v in data.items() if k not in ("models", "selector", "aggregator", "scorer")}
    form["models"] = [
        {"name": m.get("name", ""), "generator": m.get("generator", "hf"), "params": dict(m.get("params") or {})}
        if isinstance(m, Mapping) else m
        for m in data.get("models") or []
    ]
    for kind in ("selector", "aggregator", "scorer"):
        spec = data.get(kind, "all" if kind == "selector" else None)
        if isinstance(spec, str):
            spec = {"type": spec}
        form[kind] = {"type": spec.get("type"), "params": dict(spec.get("params") or {})} if spec else None
    return form


def check_recipe(data: Mapping[str, Any], registry: Registry) -> dict[str, Any]:
    """Validate recipe data as ``ensemble recipes validate`` does; problems keyed by YAML path."""
    text = recipe_yaml(data)
    try:
        resolved = validate_recipe(dict(data), registry, source="builder")
    except RecipeError as err:
        problems = [{"path": p.path, "message": p.message} for p in err.problems]
        return {"ok": False, "yaml": text, "problems": problems or [{"path": "", "message": str(err)}]}
    except EnsembleError as err:
        return {"ok": False, "yaml": text, "problems": [{"path": "", "message": str(err)}]}
    return {"ok": True, "yaml": text, "problems": [], "hash": resolved.hash, "name": resolved.name}


def check_yaml(text: str, registry: Registry) -> dict[str, Any]:
    """Validate YAML typed into the preview; its problems, and the form it loads back into."""
    try:
        form = yaml_to_form(text)
    except RecipeError as err:
        problems = [{"path": p.path, "message": p.message} for p in err.problems]
        return {"ok": False, "yaml": text, "problems": problems or [{"path": "", "message": str(err)}]}
    return {**check_recipe(form_to_recipe(form), registry), "yaml": text, "form": form}


__all__ = ["check_recipe", "check_yaml", "component_schemas", "form_to_recipe", "recipe_yaml", "yaml_to_form"]
