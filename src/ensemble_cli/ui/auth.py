"""The UI's login: a browser cannot send ``Authorization: Bearer`` when it opens a page, so with
``--api-key`` the page asks for the key once and keeps it in a cookie that the server accepts in
place of the header — on every route, the API's included, and on no route without it.

The cookie is ``HttpOnly`` (page scripts cannot read it) and ``SameSite=Strict`` (another site's
page cannot make the browser send it), so accepting it on the API adds no cross-site request path.
The login route is the one route under ``/ui`` open without a key; it checks the key itself.
"""

from __future__ import annotations

import html
import secrets
from urllib.parse import parse_qs

KEY_COOKIE = "ensemble_ui_key"
LOGIN_PATH = "/ui/login"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ensemble-cli · sign in</title><link rel="icon" href="data:,"><style>{css}</style></head>
<body class="login"><main>
<h1>ensemble-cli</h1>
<p>This server needs its API key (<code>--api-key</code> / <code>ENSEMBLE_API_KEY</code>).</p>
<form method="post" action="/ui/login">
<label for="key">API key</label>
<input id="key" name="key" type="password" autocomplete="current-password" autofocus required>
<button type="submit">Sign in</button>
</form>
<p class="error" role="alert">{message}</p>
</main></body></html>
"""


def login_page(message: str = "") -> str:
    """The sign-in form (served with 401 when the key is missing or wrong)."""
    css = ("body{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem}"
           "input{width:100%;margin:.4rem 0}.error{color:#b00020}")  # inline: the stylesheet is behind the key
    return _PAGE.replace("{css}", css).replace("{message}", html.escape(message))


def key_matches(given: str | None, key: str) -> bool:
    return given is not None and secrets.compare_digest(given.strip().encode(), key.encode())


def form_key(body: bytes) -> str | None:
    """The ``key`` field of an ``application/x-www-form-urlencoded`` body (no python-multipart)."""
    values = parse_qs(body.decode("utf-8", errors="replace")).get("key")
    return values[0] if values else None


def is_page(path: str) -> bool:
    """A path a person opens in the browser (answered with the sign-in form rather than JSON)."""
    return path in ("/ui", "/ui/") or (path.startswith("/ui/") and not path.startswith(("/ui/api/", "/ui/static/")))


__all__ = ["KEY_COOKIE", "LOGIN_PATH", "form_key", "is_page", "key_matches", "login_page"]
