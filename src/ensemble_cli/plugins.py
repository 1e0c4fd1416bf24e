"""Loading plugins (entry-point group ``ensemble_cli``) into a ``Registry``.

Unlike ``pm.load_setuptools_entrypoints``, every entry point is loaded on its own and every
plugin's hooks are called on their own, so one broken plugin is recorded (``ensemble plugins``
shows it) and skipped while all the others still work — a plugin can never take the CLI down.
A plugin whose ``register_*`` hook fails contributes nothing (its partial registrations are
rolled back), so what is registered never depends on how far a broken hook got.

The built-ins (``ensemble_cli.builtins``) come through the same entry-point path as third-party
plugins and are always loaded first, so on a name clash the built-in keeps its name and the
third-party plugin is reported. Switches (pytest's ``-p no:name`` habit):

- ``ENSEMBLE_DISABLE_PLUGIN_AUTOLOAD=1``: load only the built-ins (and explicit ``extra_plugins``).
- ``ENSEMBLE_PLUGINS_BLOCK=name1,name2``: skip these entry points (entry-point or distribution name).
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING

import pluggy

from . import __version__, hookspecs
from .errors import describe
from .registry import PluginInfo, Registry, suggest

if TYPE_CHECKING:
    import typer

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ensemble_cli"
BUILTINS = "ensemble_cli.builtins"
AUTOLOAD_ENV = "ENSEMBLE_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "ENSEMBLE_PLUGINS_BLOCK"

#: kind → the hook that registers components of that kind, in the order they are called.
KIND_HOOKS: dict[str, str] = {
    "generator": "register_generators",
    "scorer": "register_scorers",
    "selector": "register_selectors",
    "aggregator": "register_aggregators",
}
_HOOK_NAMES = [*KIND_HOOKS.values(), "register_commands"]


@dataclass
class LoadedPlugins:
    """The plugin manager (needed later for ``register_commands``) and the filled registry."""

    manager: pluggy.PluginManager
    registry: Registry


# -- switches -----------------------------------------------------------------------------------


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def _normalize(name: str) -> str:
    """PEP 503-style normalization, so ``Foo_Plugin`` blocks ``foo-plugin``."""
    return re.sub(r"[-_.]+", "-", name).strip().lower()


def autoload_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether third-party entry points are loaded (``ENSEMBLE_DISABLE_PLUGIN_AUTOLOAD`` unset/0)."""
    env = os.environ if environ is None else environ
    return not _truthy(env.get(AUTOLOAD_ENV))


def blocked_plugins(environ: Mapping[str, str] | None = None) -> set[str]:
    """Normalized names listed in ``ENSEMBLE_PLUGINS_BLOCK``."""
    env = os.environ if environ is None else environ
    return {_normalize(n) for n in env.get(BLOCK_ENV, "").split(",") if n.strip()}


# -- loading ------------------------------------------------------------------------------------


def _entry_points() -> list[metadata.EntryPoint]:
    """The group's entry points, without the duplicates a stale editable install can leave."""
    seen: set[tuple[str, str]] = set()
    found = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if (ep.name, ep.value) not in seen:
            seen.add((ep.name, ep.value))
            found.append(ep)
    return found


def _unique(registry: Registry, name: str) -> str:
    taken = {p.name for p in registry.plugins}
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name} ({n})", n + 1
    return candidate


def _object_name(plugin: object) -> str:
    name = getattr(plugin, "__name__", None)
    return name if isinstance(name, str) else type(plugin).__name__


def _unknown_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """Hook implementations that match no hookspec (usually a typo) and are not optional."""
    unknown = []
    for caller in pm.get_hookcallers(plugin) or []:
        if caller.has_spec():
            continue
        if any(impl.plugin is plugin and not impl.optionalhook for impl in caller.get_hookimpls()):
            unknown.append(caller.name)
    return unknown


def _add(loaded: LoadedPlugins, plugin: object, info: PluginInfo) -> None:
    """Register ``plugin`` with pluggy under ``info.name`` and record it; failures go to ``info.error``."""
    pm, registry = loaded.manager, loaded.registry
    registry.add_plugin(info)
    try:
        pm.register(plugin, name=info.name)
    except Exception as exc:  # PluginValidationError (bad hook signature), ValueError (twice)
        log.debug("plugin %s could not be registered", info.name, exc_info=True)
        info.error = f"cannot register: {describe(exc)}"
        return
    unknown = _unknown_hooks(pm, plugin)
    if unknown:
        pm.unregister(plugin)
        hints = [f"{h} (did you mean {s}?)" if (s := suggest(h, _HOOK_NAMES)) else h for h in unknown]
        info.error = f"unknown hook {', '.join(hints)}"


def _load_builtins(loaded: LoadedPlugins, entry_point: metadata.EntryPoint | None) -> None:
    info = PluginInfo(BUILTINS, __version__)
    try:
        # Through the entry point when installed (same path as third parties); directly otherwise.
        module = entry_point.load() if entry_point is not None else importlib.import_module(BUILTINS)
    except Exception as exc:
        log.debug("built-in plugins failed to import", exc_info=True)
        loaded.registry.add_plugin(info)
        info.error = f"failed to import {BUILTINS}: {describe(exc)}"
        return
    _add(loaded, module, info)


def _load_entry_point(
    loaded: LoadedPlugins, ep: metadata.EntryPoint, autoload: bool, blocked: set[str]
) -> None:
    dist = getattr(ep, "dist", None)
    dist_name = dist.name if dist is not None else None
    info = PluginInfo(
        _unique(loaded.registry, dist_name or ep.name), dist.version if dist is not None else None
    )
    if not autoload:
        info.disabled = f"autoload disabled ({AUTOLOAD_ENV})"
    elif blocked & {_normalize(ep.name), _normalize(dist_name or ep.name)}:
        info.disabled = f"blocked ({BLOCK_ENV})"
    if info.disabled:
        loaded.registry.add_plugin(info)
        return
    try:
        plugin = ep.load()
    except Exception as exc:  # ImportError, SyntaxError, anything raised at import time
        log.debug("plugin %s failed to import", info.name, exc_info=True)
        loaded.registry.add_plugin(info)
        info.error = f"failed to import {ep.value}: {describe(exc)}"
        return
    _add(loaded, plugin, info)


def _register_components(loaded: LoadedPlugins, info: PluginInfo) -> None:
    """Call one plugin's ``register_*`` hooks; on any failure roll back all it registered."""
    pm, registry = loaded.manager, loaded.registry
    plugin = pm.get_plugin(info.name)
    if plugin is None:
        return
    others = [p for p in pm.get_plugins() if p is not plugin]
    for kind, hook in KIND_HOOKS.items():
        caller = pm.subset_hook_caller(hook, remove_plugins=others)

        def register(name: str, cls: type, _kind: str = kind) -> None:
            registry.register(_kind, name, cls, info.name)

        try:
            caller(register=register)
        except Exception as exc:
            log.debug("plugin %s: %s failed", info.name, hook, exc_info=True)
            registry.unregister_plugin(info.name)
            info.error = f"{hook} failed: {describe(exc)}"
            break
    registry.refresh_plugin_components(info.name)


def load_plugins(
    *, autoload: bool | None = None, extra_plugins: Sequence[object] = (), builtins: bool = True
) -> LoadedPlugins:
    """Load built-ins, entry points (unless autoload is off) and ``extra_plugins``; fill a registry.

    ``autoload=None`` reads ``ENSEMBLE_DISABLE_PLUGIN_AUTOLOAD``. ``extra_plugins`` are objects or
    modules with ``@hookimpl`` functions, registered after the entry points (tests and embedding
    apps use them). ``builtins=False`` leaves the built-ins out: only for tests that must not
    depend on them; the CLI always loads them.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    loaded = LoadedPlugins(pm, Registry())
    entry_points = _entry_points()
    if builtins:
        _load_builtins(loaded, next((ep for ep in entry_points if ep.value == BUILTINS), None))
    autoload = autoload_enabled() if autoload is None else autoload
    blocked = blocked_plugins()
    for ep in entry_points:
        if ep.value != BUILTINS:
            _load_entry_point(loaded, ep, autoload, blocked)
    for plugin in extra_plugins:
        name = _unique(loaded.registry, _object_name(plugin))
        version = getattr(plugin, "__version__", None)
        _add(loaded, plugin, PluginInfo(name, version if isinstance(version, str) else None))
    for info in loaded.registry.plugins:
        if info.error is None and info.disabled is None:
            _register_components(loaded, info)
    return loaded


def load_registry(
    *, autoload: bool | None = None, extra_plugins: Sequence[object] = (), builtins: bool = True
) -> Registry:
    """A fresh registry with every loadable plugin's components (see ``load_plugins``)."""
    return load_plugins(autoload=autoload, extra_plugins=extra_plugins, builtins=builtins).registry


# -- the process-wide cache ---------------------------------------------------------------------

_lock = threading.Lock()
_cache: LoadedPlugins | None = None
_override: Registry | None = None


def get_plugins() -> LoadedPlugins:
    """The process's plugins, loaded once (entry points are imported on first use only)."""
    global _cache
    with _lock:
        if _cache is None:
            _cache = load_plugins()
        return _cache


def get_registry() -> Registry:
    """The process's registry (or the one installed by ``use_registry``)."""
    return _override if _override is not None else get_plugins().registry


def reset_plugin_cache() -> None:
    """Forget the loaded plugins, so the next ``get_registry`` reloads them (tests)."""
    global _cache
    with _lock:
        _cache = None


@contextmanager
def use_registry(registry: Registry) -> Iterator[Registry]:
    """Make ``get_registry()`` return ``registry`` inside the block (tests, embedding apps)."""
    global _override
    previous, _override = _override, registry
    try:
        yield registry
    finally:
        _override = previous


# -- plugin commands ----------------------------------------------------------------------------


def _command_names(app: typer.Typer) -> dict[int, str | None]:
    """id(info) → the name a registered command or sub-app will have on the command line."""
    from typer.main import get_command_name

    names: dict[int, str | None] = {}
    for cmd in app.registered_commands:
        callback_name = getattr(cmd.callback, "__name__", None)
        names[id(cmd)] = cmd.name or (get_command_name(callback_name) if callback_name else None)
    for group in app.registered_groups:
        name = group.name
        if not isinstance(name, str) and group.typer_instance is not None:
            name = group.typer_instance.info.name
        names[id(group)] = name if isinstance(name, str) else None
    return names


def register_plugin_commands(app: typer.Typer, plugins: LoadedPlugins | None = None) -> None:
    """Let every loaded plugin add commands to ``app``; failures are warnings on stderr.

    A plugin command may not replace an existing command: a clashing one is dropped and reported.
    """
    plugins = plugins if plugins is not None else get_plugins()
    pm = plugins.manager
    for info in plugins.registry.plugins:
        plugin = pm.get_plugin(info.name) if info.error is None and info.disabled is None else None
        if plugin is None or not any(i.plugin is plugin for i in pm.hook.register_commands.get_hookimpls()):
            continue
        before = _command_names(app)
        taken = {n for n in before.values() if n}
        others = [p for p in pm.get_plugins() if p is not plugin]
        try:
            pm.subset_hook_caller("register_commands", remove_plugins=others)(app=app)
        except Exception as exc:
            app.registered_commands[:] = [c for c in app.registered_commands if id(c) in before]
            app.registered_groups[:] = [g for g in app.registered_groups if id(g) in before]
            info.error = f"register_commands failed: {describe(exc)}"
            print(f"warning: plugin {info.name!r}: {info.error}", file=sys.stderr)
            continue
        after = _command_names(app)
        clashes = {key for key, name in after.items() if key not in before and name in taken}
        if clashes:
            app.registered_commands[:] = [c for c in app.registered_commands if id(c) not in clashes]
            app.registered_groups[:] = [g for g in app.registered_groups if id(g) not in clashes]
            dropped = ", ".join(sorted({after[k] or "?" for k in clashes}))
            print(
                f"warning: plugin {info.name!r} tried to replace command(s) {dropped}; ignored",
                file=sys.stderr,
            )
