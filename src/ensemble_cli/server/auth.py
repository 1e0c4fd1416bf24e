"""The API-key check, as HTTP middleware in front of every route.

Open paths: ``/health`` and the API docs. Every other route needs ``Authorization: Bearer KEY``
when the server has a key. With the web UI mounted (``ServerState.ui``) the key cookie its sign-in
form sets (``ensemble_cli.ui.auth``) is accepted in place of a *missing* header (a wrong header is
still a 401), a UI page without a key gets the sign-in page rather than a JSON error, and
``/ui/login`` is open (it checks the key itself).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from .errors import error_body
from .state import ServerState

OPEN_PATHS = ("/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")


def install_auth(app: FastAPI) -> None:
    """Put the key check in front of ``app`` (which holds its ``ServerState`` on ``app.state.server``)."""
    app.middleware("http")(check_key)


async def check_key(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    state: ServerState = request.app.state.server
    refusal = _refusal(request, state)
    return refusal if refusal is not None else await call_next(request)


def _refusal(request: Request, state: ServerState) -> Response | None:
    """``None`` when the request may pass, else the 401 to send."""
    path = request.url.path
    if not state.api_key or path in OPEN_PATHS:
        return None
    if state.ui:  # the UI's own rules live with the UI (imported only when it is mounted)
        from ..ui.auth import LOGIN_PATH

        if path == LOGIN_PATH:
            return None
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode(), state.api_key.encode()):
        return None
    if state.ui and not header:
        from ..ui.auth import KEY_COOKIE, is_page, key_matches, login_page

        if key_matches(request.cookies.get(KEY_COOKIE), state.api_key):
            return None
        if is_page(path):
            return HTMLResponse(login_page(), status_code=401)
    message = "missing API key" if not header else "invalid API key"
    return JSONResponse(error_body(401, message, code="invalid_api_key"), status_code=401)
