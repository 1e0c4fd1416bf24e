"""OpenAI-style errors at the HTTP boundary.

Everything below the server raises typed exceptions; here they become ``{"error": {message, type,
param, code}}`` bodies with the status a client expects: 400 for bad input naming the parameter
(FastAPI's own 422 is rewritten, because OpenAI clients and lm-eval treat 4xx as "your fault" and
only 400 carries that meaning for them), 401 bad key, 404 unknown model, 501 unsupported, 503
busy or loading. An unexpected exception in one request becomes that request's 500 and nothing more;
a component's failure (``ComponentError``) is a 500 with code ``component_error`` whose message names
the component and its plugin (its traceback goes to the server's stderr in verbose mode, never to
the client).
"""

from __future__ import annotations

import sys
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    ComponentError,
    EnsembleError,
    GenerationError,
    RecipeError,
    UnsupportedError,
    UsageError,
    describe,
    format_traceback,
)
from ..verbosity import is_verbose

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    500: "server_error",
    501: "not_implemented_error",
    503: "service_unavailable_error",
}


class APIError(Exception):
    """An error with an HTTP status, raised by handlers and the service layer."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, param=self.param, code=self.code)


def error_body(status: int, message: str, *, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    kind = _TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def bad_request(message: str, param: str | None = None) -> APIError:
    return APIError(400, message, param=param)


def from_exception(exc: BaseException) -> APIError:
    """Map an exception raised while serving one request to its API error."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, UnsupportedError):
        return APIError(501, str(exc), code="unsupported")
    if isinstance(exc, RecipeError):
        problem = exc.problems[0] if exc.problems else None
        message = "; ".join(str(p) for p in exc.problems) or str(exc)
        return APIError(400, message, param=problem.path if problem else None)
    if isinstance(exc, UsageError):
        return APIError(400, str(exc))
    if isinstance(exc, GenerationError):
        return APIError(500, str(exc), code="generation_error")
    if isinstance(exc, ComponentError):  # a component's own failure: the message names it and its plugin
        if is_verbose():
            print(f"error: {exc}\n{format_traceback(exc)}", file=sys.stderr, flush=True)
        return APIError(500, str(exc), code="component_error")
    if isinstance(exc, EnsembleError):
        return APIError(500, str(exc))
    return APIError(500, f"internal error: {describe(exc)}")


def _param(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    # pydantic adds the union member's type name to the location ("prompt.str"); drop those
    parts = [p for p in parts if not p.startswith(("list[", "function-")) and p not in ("str", "int", "list")]
    return ".".join(parts) or None


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    param = _param(tuple(first.get("loc", ())))
    msg = str(first.get("msg", "invalid request"))
    roots = {_param(tuple(e.get("loc", ()))) for e in errors}
    if first.get("type") in ("json_invalid", "model_attributes_type") or param is None:
        message = f"invalid request body: {msg}"
    elif param == "prompt" or (param or "").startswith("prompt."):
        param = "prompt"
        message = (
            "invalid value for 'prompt': expected a string, a list of strings, a list of token ids, "
            "or a list of token-id lists (ids >= 0, lists not empty)"
        )
        errors = errors[:1]
    elif len(roots) == 1 and len(errors) > 1:  # one field failing every member of a union
        message = f"invalid value for '{param}': {msg}"
        errors = errors[:1]
    else:
        message = f"invalid value for '{param}': {msg}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem(s))"
    return JSONResponse(error_body(400, message, param=param), status_code=400)


async def _api_error(request: Request, exc: APIError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return JSONResponse(error_body(exc.status_code, str(exc.detail)), status_code=exc.status_code)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    err = from_exception(exc)
    return JSONResponse(err.body(), status_code=err.status)


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the OpenAI body."""
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(APIError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
