"""``--deterministic``: the flag ``run``, ``bench``, ``serve`` and ``lm-eval`` share for batch-invariant results.

It is ``--set generation.batch_invariant=true`` under the name people look for (vLLM and SGLang call
theirs "deterministic" / "batch-invariant" mode): a row's result no longer depends on what else is in
its batch, at a measured cost (README, "Batch invariance"). An override like any other, so it
reaches the recipe hash, the records and the bench's member runs the same way ``--set`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

OVERRIDE = "generation.batch_invariant=true"

DeterministicFlag = Annotated[
    bool,
    typer.Option(
        "--deterministic",
        help="Batch-invariant results: a row gets the same answer alone or in any batch, at any --batch-size "
        "(slower; the same as --set generation.batch_invariant=true).",
    ),
]


def with_deterministic(overrides: Sequence[str] | None, deterministic: bool) -> list[str]:
    """The ``--set`` overrides, plus batch invariance when ``--deterministic`` was given (last: it wins)."""
    return [*(overrides or ()), *([OVERRIDE] if deterministic else [])]
