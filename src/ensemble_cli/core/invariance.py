"""Whether the current batch asked for batch-invariant numerics (``generation.batch_invariant``).

Sessions get the setting when they are opened; teacher-forced scoring (``Generator.score_tokens``)
has no settings argument, so the Pipeline (and the server's scoring jobs) declare the mode for
everything run inside a batch with :func:`batch_invariant_scope`, and backends read it with
:func:`batch_invariant`. A ``ContextVar``: each thread (the server's engine, a worker) has its own.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from functools import wraps
from typing import Any, TypeVar

_ON: ContextVar[bool] = ContextVar("ensemble_batch_invariant", default=False)


def batch_invariant() -> bool:
    """True inside a batch whose generation settings ask for batch-invariant results."""
    return _ON.get()


@contextlib.contextmanager
def batch_invariant_scope(on: bool) -> Iterator[None]:
    """Declare the mode for the block (restored afterwards, also on error)."""
    token = _ON.set(bool(on))
    try:
        with single_threaded() if on else contextlib.nullcontext():
            yield
    finally:
        _ON.reset(token)


_THREADS_LOCK = threading.Lock()
_THREADS_USERS = 0
_THREADS_SAVED = 1


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Torch's intra-op threads set to 1 while any batch-invariant work runs (then restored).

    With several threads torch splits a reduction by the shape of the whole call: one row alone is
    split along its hidden size or vocabulary (norms, softmax, log_softmax), eight rows are split by
    row — other partial sums, other bits. Per-row shapes are not enough; one thread makes every
    reduction order depend on the row alone. Process-wide (torch's setting is), counted so that
    concurrent invariant batches (``--concurrency``) keep it at 1 until the last one ends; other
    work meanwhile runs on one thread too (slower, never different). This is most of the mode's
    cost on a multi-core machine.
    """
    import torch

    global _THREADS_USERS, _THREADS_SAVED
    with _THREADS_LOCK:
        if _THREADS_USERS == 0:
            _THREADS_SAVED = torch.get_num_threads()
            torch.set_num_threads(1)
        _THREADS_USERS += 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_USERS -= 1
            if _THREADS_USERS == 0:
                torch.set_num_threads(_THREADS_SAVED)


F = TypeVar("F", bound=Callable[..., Any])


def single_threaded_if_invariant(method: F) -> F:
    """Run a session method under :func:`single_threaded` when its object has ``batch_invariant`` on."""

    @wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not getattr(self, "batch_invariant", False):
            return method(self, *args, **kwargs)
        with single_threaded():
            return method(self, *args, **kwargs)

    return run  # type: ignore[return-value]
