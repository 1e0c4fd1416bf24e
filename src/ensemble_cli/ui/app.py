"""The ``/ui`` routes on the API's FastAPI app (``ensemble serve --ui``).

The page itself generates through the public API (``POST /v1/chat/completions`` with ``stream``)
and reads ``/status``, so generation shares the engine's queue, batching, caps and key check with
every other client; the routes here serve only what the API does not have: the page and its
assets, the recipe builder's schemas and validation, blind votes, bench folders, and the other
recipes the playground may run (``--recipes DIR`` and the builder's "try it": ``ui.recipes``
checks them and adds them to the server's pipelines, after which they are generated through the
same ``/v1/chat/completions``). Every one of them sits behind the server's key check
(``server.app``); only ``/ui/login`` is open.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from ..errors import EnsembleError
from ..server.app import ServerState
from ..server.errors import APIError, bad_request
from .auth import KEY_COOKIE, LOGIN_PATH, form_key, key_matches, login_page
from .spans import member_colours
from .votes import Vote, append_vote

STATIC = Path(__file__).parent / "static"
_ASSETS = {"ui.js": "text/javascript", "ui.css": "text/css"}


@dataclass
class UIOptions:
    """What ``--ui`` adds beyond the recipe: where votes go and which bench folders to offer."""

    votes: Path | None = None
    benches: list[Path] = field(default_factory=list)
    recipes: Path | None = None  #: a folder of recipes the playground may pick from


class UseRecipe(BaseModel):
    """A recipe for the playground: a file of the ``--recipes`` folder, or YAML from the builder."""

    model_config = ConfigDict(extra="forbid")
    file: str | None = None
    yaml: str | None = None


class BuilderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    form: dict[str, Any] | None = None
    yaml: str | None = None


def mount_ui(app: FastAPI, state: ServerState, options: UIOptions) -> None:
    """Add the ``/ui`` routes to ``app`` (built by ``server.app.create_app`` from ``state``)."""
    state.ui = True
    registry = state.pipelines.registry

    @app.get("/ui", include_in_schema=False)
    @app.get("/ui/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})

    @app.get("/ui/static/{name}", include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        if name not in _ASSETS:
            raise APIError(404, f"no UI asset {name!r}", code="not_found")
        return FileResponse(STATIC / name, media_type=_ASSETS[name], headers={"Cache-Control": "no-cache"})

    @app.post(LOGIN_PATH, include_in_schema=False)
    async def login(request: Request) -> Response:
        key = form_key(await request.body())
        if not state.api_key:
            return RedirectResponse("/ui", status_code=303)
        if not key_matches(key, state.api_key):
            return HTMLResponse(login_page("That key is not this server's key."), status_code=401)
        response = RedirectResponse("/ui", status_code=303)
        response.set_cookie(KEY_COOKIE, state.api_key, httponly=True, samesite="strict", path="/")
        return response

    @app.get("/ui/logout", include_in_schema=False)
    async def logout() -> Response:
        response = RedirectResponse("/ui", status_code=303)
        response.delete_cookie(KEY_COOKIE, path="/")
        return response

    @app.get("/ui/api/info", summary="What the web UI shows: recipe, members and their colours, options")
    async def info() -> dict[str, Any]:
        resolved = state.pipelines.recipe
        members = [m.name for m in resolved.models]
        return {
            "recipe": resolved.name,
            "recipe_hash": resolved.hash,
            "aggregator": resolved.aggregator.type,
            "members": members,
            "colours": member_colours(members),
            "models": state.pipelines.model_names,
            "generation": {"max_tokens": resolved.generation.max_tokens,
                           "temperature": resolved.generation.temperature, "seed": resolved.generation.seed},
            "max_tokens_cap": state.limits.max_tokens_cap,
            "auth": bool(state.api_key),
            "votes": options.votes is not None,
            "benches": [str(p) for p in options.benches],
            "recipes_folder": str(options.recipes) if options.recipes else None,
            "recipe_form": resolved.as_dict(),  #: the builder starts from the served recipe
        }

    @app.get("/ui/api/components", summary="Every registered component with its Config's JSON schema")
    async def components() -> dict[str, Any]:
        from .builder import component_schemas

        return component_schemas(registry)

    @app.post("/ui/api/builder", summary="Validate a builder form (or YAML): YAML preview + problems by path")
    async def builder(req: BuilderRequest) -> dict[str, Any]:
        from .builder import check_recipe, check_yaml, form_to_recipe

        if req.yaml is not None:
            return await run_in_threadpool(check_yaml, req.yaml, registry)
        if req.form is None:
            raise bad_request("give 'form' or 'yaml'", "form")
        return await run_in_threadpool(check_recipe, form_to_recipe(req.form), registry)

    @app.get("/ui/api/recipes", summary="The --recipes folder: each recipe, runnable here or why not")
    async def recipes() -> dict[str, Any]:
        from .recipes import folder_recipes

        if options.recipes is None:
            return {"folder": None, "recipes": []}
        found = await run_in_threadpool(folder_recipes, options.recipes, registry, state.pipelines)
        return {"folder": str(options.recipes), "recipes": found}

    @app.post("/ui/api/recipes/use", summary="Serve a folder recipe (or the builder's YAML) by its name")
    async def use_recipe(req: UseRecipe) -> dict[str, Any]:
        from ..recipe import load_recipe_data, parse_recipe_text
        from .recipes import check_recipe_data, use

        if (req.file is None) == (req.yaml is None):
            raise bad_request("give 'file' (a recipe of the --recipes folder) or 'yaml'", "file")
        if req.file is not None:
            folder = options.recipes
            path = folder / req.file if folder is not None else None
            if path is None or Path(req.file).name != req.file or path.suffix not in (".yaml", ".yml") \
                    or not path.is_file():
                raise APIError(404, f"no recipe file {req.file!r} in the recipes folder", param="file",
                               code="not_found")
            source, read = str(path), lambda: load_recipe_data(path)
        else:
            text = req.yaml or ""
            source, read = "builder", lambda: parse_recipe_text(text, "builder")

        def check() -> tuple[Any, str | None]:
            try:
                data = read()
            except EnsembleError as exc:
                return None, f"invalid: {exc}"
            return check_recipe_data(data, registry, state.pipelines, source)

        resolved, reason = await run_in_threadpool(check)
        if reason is not None or resolved is None:
            raise APIError(400, f"{source}: {reason}", param="file" if req.file is not None else "yaml",
                           code="recipe_unavailable")
        out = use(resolved, state.pipelines)
        return {**out, "colours": member_colours(out["members"])}

    @app.post("/ui/api/vote", summary="Append a blind side-by-side vote to the --votes file")
    async def vote(req: Vote) -> dict[str, Any]:
        if options.votes is None:
            raise APIError(404, "this server records no votes (start it with --votes FILE)", code="not_found")
        try:
            line = await run_in_threadpool(append_vote, options.votes, req)
        except ValueError as exc:
            raise bad_request(str(exc), "choice") from None
        return {"ok": True, "winner": line["winner"]}

    @app.get("/ui/api/bench/{index}", summary="A bench folder given with --bench, re-graded")
    async def bench(index: int) -> Any:
        from .bench_view import bench_document

        if not 0 <= index < len(options.benches):
            raise APIError(404, f"no bench folder #{index} (the server has {len(options.benches)})", code="not_found")
        try:
            doc = await run_in_threadpool(bench_document, options.benches[index])
        except EnsembleError as exc:
            raise APIError(400, str(exc), code="bad_bench") from None
        return _finite(doc)

    @app.get("/ui/api/bench/{index}/plot/{name}", summary="A PNG figure of a --bench folder (e.g. report.png)")
    async def bench_plot(index: int, name: str) -> FileResponse:
        from .bench_view import plot_path

        path = plot_path(options.benches[index], name) if 0 <= index < len(options.benches) else None
        if path is None:
            raise APIError(404, f"no figure {name!r} in bench folder #{index}", code="not_found")
        return FileResponse(path, media_type="image/png")


def _finite(value: Any) -> Any:
    """JSON has no NaN: intervals of empty samples become ``null``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


__all__ = ["UIOptions", "mount_ui"]
