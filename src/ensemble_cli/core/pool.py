"""ModelPool: load each model once per process and reuse it.

Entries are keyed by the *full* spec (generator type plus its whole validated config, as canonical
JSON), so changing the dtype, revision or any other option loads a new model instead of silently
reusing a stale one. Loading happens under a per-key lock, so concurrent requests (the server)
never load the same model twice. Every load runs with third-party progress bars and warnings off
(``quiet.quiet_third_party``) unless the user asked for ``--verbose``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from ..quiet import quiet_third_party

T = TypeVar("T")


def spec_key(kind: str, config: BaseModel | dict[str, Any]) -> str:
    """Canonical key for a component spec: ``kind`` plus its config as sorted, compact JSON."""
    data = config.model_dump(mode="json") if isinstance(config, BaseModel) else config
    return kind + ":" + json.dumps(data, sort_keys=True, separators=(",", ":"))


class ModelPool:
    """A process-wide cache of loaded models (and tokenizers), keyed by ``spec_key``."""

    def __init__(self) -> None:
        self._items: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.loads = 0  #: how many times a loader actually ran (tests use it to prove reuse)

    def get(self, key: str, loader: Callable[[], T]) -> T:
        """The object stored under ``key``, calling ``loader()`` once if it is not there yet."""
        if key in self._items:
            return self._items[key]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._items:
                quiet_third_party()  # no transformers bars/warnings on our stderr unless --verbose
                self._items[key] = loader()
                self.loads += 1
        return self._items[key]

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def keys(self) -> list[str]:
        return list(self._items)

    def clear(self) -> None:
        with self._guard:
            self._items.clear()
            self._locks.clear()


_DEFAULT: ModelPool | None = None


def default_pool() -> ModelPool:
    """The pool shared by everything in this process that was not given one explicitly."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = ModelPool()
    return _DEFAULT
