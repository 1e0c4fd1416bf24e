"""``ensemble serve``: run a recipe as an OpenAI-compatible HTTP server (see ``ensemble_cli.server``).

The recipe becomes an ``Ensemble`` (``Ensemble.from_recipe``, exactly as from Python) and is
validated before anything starts (exit 2 on a bad recipe); the port opens at once
and models load behind it (``/health`` is 503 until they have). Binds 127.0.0.1 unless told
otherwise; the API key comes from ``--api-key`` or ``ENSEMBLE_API_KEY``. Exit 0 after SIGTERM or
Ctrl-C once in-flight requests are done. ``--ui`` also serves the web UI at ``/ui`` (``ensemble_cli.ui``;
``ensemble ui`` is the shortcut).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError
from .deterministic_flag import DeterministicFlag, with_deterministic

__all__ = ["serve", "start"]


def serve(
    recipe: Annotated[str, typer.Argument(help="Recipe YAML file.", show_default=False)],
    host: Annotated[str, typer.Option(help="Interface to bind (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="ENSEMBLE_API_KEY", help="Require 'Authorization: Bearer KEY' on every route but /health."),
    ] = None,
    max_batch: Annotated[int, typer.Option(min=1, help="Most examples run together in one engine call.")] = 8,
    max_queue: Annotated[int, typer.Option(min=1, help="Most requests waiting; more get 503.")] = 256,
    max_tokens_cap: Annotated[
        int | None, typer.Option(min=1, help="Refuse requests asking for more max_tokens (400).")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Override a recipe value, e.g. generation.max_tokens=64."),
    ] = None,
    deterministic: DeterministicFlag = False,
    ui: Annotated[bool, typer.Option("--ui", help="Also serve the web UI at /ui (same port, same engine).")] = False,
    votes: Annotated[
        str | None, typer.Option(help="With --ui: append blind side-by-side votes to this JSONL file.")
    ] = None,
    bench: Annotated[
        list[str] | None,
        typer.Option(help="With --ui: a bench folder (ensemble bench --output-dir) to view; repeatable."),
    ] = None,
    recipes: Annotated[
        str | None,
        typer.Option(help="With --ui: a folder of recipes the playground may run (those whose models are loaded)."),
    ] = None,
) -> None:
    """Serve a recipe as an OpenAI-compatible API (/v1/completions, /v1/chat/completions, ...)."""
    if (votes or bench or recipes) and not ui:
        raise UsageError("--votes, --bench and --recipes belong to the web UI: add --ui")
    start(recipe, host=host, port=port, api_key=api_key, max_batch=max_batch, max_queue=max_queue,
          max_tokens_cap=max_tokens_cap, overrides=with_deterministic(overrides, deterministic), ui=ui,
          votes=votes, bench=bench, recipes=recipes)


def start(recipe: str, *, host: str, port: int, api_key: str | None, max_batch: int, max_queue: int,
          max_tokens_cap: int | None, overrides: list[str] | None, ui: bool, votes: str | None = None,
          bench: list[str] | None = None, recipes: str | None = None) -> None:
    """Validate the recipe, check the extras, then run the server (shared by ``serve`` and ``ui``)."""
    from ..api.ensemble import Ensemble  # imported late: keeps `ensemble --help` fast

    ensemble = Ensemble.from_recipe(recipe, overrides or ())  # validated now; models load once serving
    for folder in bench or []:
        if not (Path(folder) / "bench.json").is_file():
            raise UsageError(f"--bench {folder}: not a finished bench folder (no bench.json)")
    if recipes is not None and not Path(recipes).is_dir():
        raise UsageError(f"--recipes {recipes}: not a folder")
    try:
        from ..server.runner import serve as run_server  # fastapi/uvicorn/torch only when serving
    except ModuleNotFoundError as exc:
        if exc.name not in ("fastapi", "uvicorn", "starlette"):
            raise
        extra = "ui" if ui else "serve"
        command = "ensemble serve --ui" if ui else "ensemble serve"
        raise UsageError(f"{command} needs the '{extra}' extra ({exc.name} is missing): "
                         f"pip install 'ensemble-cli[{extra}]'") from None
    options = None
    if ui:
        from ..ui.app import UIOptions

        options = UIOptions(votes=Path(votes) if votes else None, benches=[Path(b) for b in bench or []],
                            recipes=Path(recipes) if recipes else None)
    with ensemble:
        run_server(
            ensemble,
            host=host,
            port=port,
            api_key=api_key or None,
            max_batch=max_batch,
            max_queue=max_queue,
            max_tokens_cap=max_tokens_cap,
            ui=options,
        )
