"""Names → component classes, validated at registration time.

Validating when a plugin registers (not when a recipe uses the name) means a bad plugin is
reported once, by name, by ``ensemble plugins``, and lookups can stay simple: ``get`` either
returns a class that is known to have the right base and a strict pydantic ``Config``, or raises
a ``RegistryError`` with a "did you mean" suggestion (lm-evaluation-harness's habit).

The registry knows nothing about pluggy; ``plugins.py`` fills it.
"""

from __future__ import annotations

import difflib
import inspect
import re
from dataclasses import dataclass, field

from pydantic import BaseModel

from .core.components import KINDS, Component
from .errors import RegistryError

NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class RegisteredComponent:
    """One registration: which class answers to ``name`` for ``kind``, and who registered it."""

    kind: str
    name: str
    cls: type[Component]
    plugin: str

    @property
    def description(self) -> str:
        """The class's ``description``, else the first line of its docstring."""
        if self.cls.description:
            return self.cls.description
        doc = inspect.getdoc(self.cls) or ""
        return doc.splitlines()[0] if doc else ""


@dataclass
class PluginInfo:
    """What ``ensemble plugins`` shows about one plugin.

    ``components`` maps kind → registered names. ``error`` is set when the plugin failed to import
    or to register (it then contributes nothing); ``disabled`` says why a plugin was not loaded
    at all (autoload off, blocked).
    """

    name: str
    version: str | None = None
    components: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None
    disabled: str | None = None

    @property
    def status(self) -> str:
        if self.error:
            return "error"
        return "disabled" if self.disabled else "ok"

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "status": self.status,
            "components": {kind: list(names) for kind, names in self.components.items()},
            "error": self.error,
            "disabled": self.disabled,
        }


def _base(kind: str) -> type[Component]:
    try:
        return KINDS[kind]
    except KeyError:
        raise RegistryError(f"unknown component kind {kind!r}; expected one of {', '.join(KINDS)}") from None


def suggest(name: str, candidates: list[str] | tuple[str, ...]) -> str | None:
    """The closest candidate to ``name`` (difflib), or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


class Registry:
    """Component classes by kind and name, plus bookkeeping about the plugins that supplied them."""

    def __init__(self) -> None:
        self._components: dict[str, dict[str, RegisteredComponent]] = {kind: {} for kind in KINDS}
        self._plugins: dict[str, PluginInfo] = {}

    # -- registration -------------------------------------------------------------------------

    def register(self, kind: str, name: str, cls: type[Component], plugin: str) -> None:
        """Add ``cls`` as ``kind`` ``name``; raise ``RegistryError`` when anything about it is wrong."""
        base = _base(kind)
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise RegistryError(
                f"{kind} name {name!r} from plugin {plugin!r} is not kebab-case "
                "(lowercase letters and digits, single dashes, e.g. 'best-of-n')"
            )
        what = f"{kind} {name!r} from plugin {plugin!r}"
        if not isinstance(cls, type):
            raise RegistryError(f"{what}: expected a class, got {cls!r}")
        if not issubclass(cls, base):
            raise RegistryError(f"{what}: {cls.__qualname__} does not subclass {base.__name__}")
        if inspect.isabstract(cls):
            missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
            raise RegistryError(f"{what}: {cls.__qualname__} is abstract (does not implement {missing})")
        config = getattr(cls, "Config", None)
        if not (isinstance(config, type) and issubclass(config, BaseModel)):
            raise RegistryError(f"{what}: {cls.__qualname__}.Config must be a pydantic BaseModel subclass")
        if config.model_config.get("extra") != "forbid":
            raise RegistryError(
                f"{what}: {cls.__qualname__}.Config must forbid unknown fields "
                "(subclass ComponentConfig or set extra='forbid'), so recipe typos are caught"
            )
        existing = self._components[kind].get(name)
        if existing is not None:
            if existing.plugin == plugin:
                raise RegistryError(f"{kind} {name!r} registered twice by {plugin!r}")
            raise RegistryError(f"{kind} {name!r} registered by both {existing.plugin!r} and {plugin!r}")
        self._components[kind][name] = RegisteredComponent(kind, name, cls, plugin)

    def unregister_plugin(self, plugin: str) -> None:
        """Drop everything ``plugin`` registered (used when one of its hooks fails half-way)."""
        for by_name in self._components.values():
            for name in [n for n, c in by_name.items() if c.plugin == plugin]:
                del by_name[name]

    # -- lookup -------------------------------------------------------------------------------

    def lookup(self, kind: str, name: str) -> RegisteredComponent:
        """The registration of ``kind`` ``name``; ``RegistryError`` with a suggestion if unknown."""
        _base(kind)
        found = self._components[kind].get(name)
        if found is not None:
            return found
        names = self.names(kind)
        message = f"unknown {kind} {name!r}"
        close = suggest(name, names) if isinstance(name, str) else None
        message += f" — did you mean {close!r}?" if close else "."
        message += f" Available: {', '.join(names)}" if names else f" No {kind} is registered."
        raise RegistryError(message)

    def get(self, kind: str, name: str) -> type[Component]:
        """The class registered as ``kind`` ``name``."""
        return self.lookup(kind, name).cls

    def names(self, kind: str) -> list[str]:
        """Registered names of one kind, sorted."""
        _base(kind)
        return sorted(self._components[kind])

    def components(self, kind: str | None = None) -> list[RegisteredComponent]:
        """All registrations (or those of one kind), by kind then name."""
        kinds = [kind] if kind is not None else list(KINDS)
        return [self._components[k][n] for k in kinds for n in self.names(k)]

    def __contains__(self, key: object) -> bool:
        """``("aggregator", "reward") in registry``."""
        if not (isinstance(key, tuple) and len(key) == 2):
            return False
        kind, name = key
        return kind in self._components and name in self._components[kind]

    # -- plugin bookkeeping -------------------------------------------------------------------

    def add_plugin(self, info: PluginInfo) -> PluginInfo:
        """Record a plugin (loaded, failed or disabled); keeps the first record for a name."""
        return self._plugins.setdefault(info.name, info)

    def plugin(self, name: str) -> PluginInfo:
        try:
            return self._plugins[name]
        except KeyError:
            raise RegistryError(f"unknown plugin {name!r}") from None

    @property
    def plugins(self) -> list[PluginInfo]:
        """Plugins in load order (built-ins first)."""
        return list(self._plugins.values())

    def refresh_plugin_components(self, name: str) -> None:
        """Recompute ``PluginInfo.components`` of ``name`` from what is registered now."""
        info = self.plugin(name)
        info.components = {
            kind: sorted(n for n, c in by_name.items() if c.plugin == name)
            for kind, by_name in self._components.items()
            if any(c.plugin == name for c in by_name.values())
        }
