"""Whether the current batch asked for batch-invariant numerics (``generation.batch_invariant``).

Sessions get the setting when they are opened; teacher-forced scoring (``Generator.score_tokens``)
has no settings argument, so the Pipeline (and the server's scoring jobs) declare the mode for
everything run inside a batch with :func:`batch_invariant_scope`, and backends read it with
:func:`batch_invariant`. A ``ContextVar``: each thread (the server's engine, a worker) has its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

_ON: ContextVar[bool] = ContextVar("ensemble_batch_invariant", default=False)


def batch_invariant() -> bool:
    """True inside a batch whose generation settings ask for batch-invariant results."""
    return _ON.get()


@contextlib.contextmanager
def batch_invariant_scope(on: bool) -> Iterator[None]:
    """Declare the mode for the block (restored afterwards, also on error)."""
    token = _ON.set(bool(on))
    try:
        yield
    finally:
        _ON.reset(token)
