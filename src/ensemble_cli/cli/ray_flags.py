"""The ``--ray`` flags ``ensemble run`` and ``ensemble bench`` share, and the options they make.

``--ray`` takes an optional address: Typer has no optional-value options, so ``main`` turns a bare
``--ray`` (last, or followed by another option) into ``--ray local`` before parsing
(``bare_ray_flag``); ``--ray local`` says the same in so many words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ..distributed.options import RayOptions

PANEL = "Ray cluster"
RAY = "--ray"
LOCAL = "local"  #: the same word as ``distributed.options.LOCAL`` (kept apart: that module is not imported here)

RayFlag = Annotated[
    str | None,
    typer.Option(
        RAY, metavar="[ADDRESS]", rich_help_panel=PANEL, show_default=False,
        help="Run the batches on a Ray actor pool: no address (or 'local') starts a local Ray instance; "
        "'auto', HOST:PORT or ray://HOST:PORT joins a cluster. "
        "Needs the ray extra (pip install 'ensemble-cli\\[ray]').",
    ),
]
RayWorkersFlag = Annotated[
    int | None,
    typer.Option(min=1, rich_help_panel=PANEL, show_default=False,
                 help="Worker actors, each with its own pipeline (default: as many as the cluster holds)."),
]
RayCpusFlag = Annotated[
    float, typer.Option(min=0.01, rich_help_panel=PANEL, help="CPUs per worker (also its torch threads).")
]
RayGpusFlag = Annotated[
    float | None,
    typer.Option(min=0, rich_help_panel=PANEL, show_default=False,
                 help="GPUs per worker (default: the recipe's vLLM members' tensor_parallel_size, summed)."),
]
RayRetriesFlag = Annotated[
    int, typer.Option(min=0, rich_help_panel=PANEL, help="Times a batch is sent again after its worker died.")
]


def ray_options(
    address: str | None, workers: int | None, num_cpus: float, num_gpus: float | None, max_retries: int
) -> RayOptions | None:
    """The pool ``--ray`` asks for; ``None`` without ``--ray`` (the other flags then do nothing)."""
    if address is None:
        return None
    from ..distributed.options import RayOptions

    return RayOptions(address or LOCAL, workers, num_cpus, num_gpus, max_retries)


def bare_ray_flag(argv: list[str]) -> list[str]:
    """``argv`` with a bare ``--ray`` given its implicit value, ``local``."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--":
            break
        if arg == RAY and (i + 1 == len(out) or out[i + 1].startswith("-")):
            out.insert(i + 1, LOCAL)
            break
    return out
