"""ModelPool: load each model once per process and reuse it.

Entries are keyed by the *full* spec (generator type plus its whole validated config, as canonical
JSON), so changing the dtype, revision or any other option loads a new model instead of silently
reusing a stale one. Loading happens under a per-key lock, so concurrent requests (the server)
never load the same model twice. Every load runs with third-party progress bars and warnings off
(``quiet.quiet_third_party``) unless the user asked for ``--verbose``.

Leases (``ModelPool.lease()``) let owners that come and go in one process (the Python API's
``Ensemble`` objects) share entries and free them: an entry fetched through a lease is held by it,
and when the last lease holding it is released the entry is dropped (the model is freed once no
session refers to it). An entry ever fetched directly (the CLI, the server) is pinned for the
process's life: releasing leases never takes it away from such a user.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from ..quiet import quiet_third_party

T = TypeVar("T")
_LEASE_IDS = itertools.count(1)


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
        self._holders: dict[str, set[int]] = {}  #: key -> ids of the leases holding it
        self._pinned: set[str] = set()  #: keys fetched without a lease: never dropped by a release

    def get(self, key: str, loader: Callable[[], T]) -> T:
        """The object stored under ``key``, calling ``loader()`` once if it is not there yet."""
        if key not in self._pinned:
            with self._guard:
                self._pinned.add(key)
        return self._get(key, loader)

    def lease(self) -> PoolLease:
        """A holder of entries that can give them back (``PoolLease.release``)."""
        return PoolLease(self)

    def _hold(self, key: str, holder: int) -> None:
        with self._guard:
            self._holders.setdefault(key, set()).add(holder)

    def _release(self, holder: int) -> list[str]:
        """Drop ``holder``'s hold on every entry; remove entries nobody holds any more."""
        dropped = []
        with self._guard:
            for key, holders in list(self._holders.items()):
                holders.discard(holder)
                if not holders:
                    del self._holders[key]
                    if key not in self._pinned and key in self._items:
                        del self._items[key]
                        self._locks.pop(key, None)
                        dropped.append(key)
        return dropped

    def _get(self, key: str, loader: Callable[[], T]) -> T:
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
            self._holders.clear()
            self._pinned.clear()


class PoolLease(ModelPool):
    """A view of a shared ``ModelPool`` that remembers what it fetched and can give it back.

    Components take it wherever they take a pool (it *is* a ``ModelPool`` to them); ``release()``
    lets go of every entry fetched through it, and the pool drops those no other lease holds.
    """

    def __init__(self, pool: ModelPool) -> None:  # no super().__init__: every entry lives in ``pool``
        self.pool = pool
        self.released = False
        self._id = next(_LEASE_IDS)  # not id(self): a collected lease's id may be reused

    def get(self, key: str, loader: Callable[[], T]) -> T:
        if self.released:
            raise RuntimeError("this model pool lease was released (the Ensemble is closed)")
        self.pool._hold(key, self._id)
        return self.pool._get(key, loader)

    @property
    def loads(self) -> int:  # type: ignore[override]
        return self.pool.loads

    def __contains__(self, key: str) -> bool:
        return key in self.pool

    def keys(self) -> list[str]:
        return self.pool.keys()

    def lease(self) -> PoolLease:
        return PoolLease(self.pool)

    def clear(self) -> None:
        raise RuntimeError("a lease cannot clear the shared pool; release() it instead")

    def release(self) -> list[str]:
        """Give back every entry fetched through this lease; returns the keys the pool dropped."""
        if self.released:
            return []
        self.released = True
        return self.pool._release(self._id)


_DEFAULT: ModelPool | None = None


def default_pool() -> ModelPool:
    """The pool shared by everything in this process that was not given one explicitly."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = ModelPool()
    return _DEFAULT
