"""A pooled, retrying async HTTP client for OpenAI-compatible servers, callable from sync code.

The engine (aggregators, sessions) is synchronous, but one ``generate`` over a batch of rows should
put every row's request on the wire at once. So each client owns one ``httpx.AsyncClient`` (a
connection pool, keep-alive) on its own event-loop thread; ``post_many`` submits a batch of requests
to that loop and blocks until all are answered. Several threads (``ensemble run --concurrency``) may
call it at the same time: they share the pool, and one ``asyncio.Semaphore`` caps the requests in
flight to the server at ``max_concurrency``.

Retries: connection errors, timeouts, 429 and 5xx are retried ``max_retries`` times with exponential
backoff (``backoff`` seconds, doubling, capped at 30 s; a numeric ``Retry-After`` header wins when it
is longer). Anything else fails at once. Every failure is a ``RemoteError`` naming the server (its
URL without any credentials) and the status or the transport error; the API key travels only in the
``Authorization`` header and is never part of a message.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import GenerationError

if TYPE_CHECKING:  # imported where a request is made, so `ensemble --help` never pays for it
    import httpx

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_BACKOFF = 30.0


class RemoteError(GenerationError):
    """A request to a remote model server failed (after retries, where retrying made sense)."""

    def __init__(self, message: str, *, server: str, status: int | None = None) -> None:
        super().__init__(message)
        self.server = server
        self.status = status


def public_url(url: str) -> str:
    """``url`` without user:password, for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _server_message(response: httpx.Response) -> str:
    """The server's own error text: OpenAI's ``{"error": {"message"}}``, FastAPI's ``detail``, or raw."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
        if isinstance(err, str):
            return err[:300]
        if data.get("detail"):
            return str(data["detail"])[:300]
        if data.get("message"):
            return str(data["message"])[:300]
    return response.text.strip()[:300]


class RemoteClient:
    """One server's connection pool and request policy (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_concurrency: int = 16,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.server = public_url(self.base_url)
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_concurrency = max_concurrency
        self.requests = 0  #: HTTP requests sent, retries included
        self.retries = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"remote:{self.server}", daemon=True)
        self._thread.start()
        self._client: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None

    # ----------------------------------------------------------------- sync API
    def post_many(self, path: str, bodies: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST every body to ``path`` concurrently; the JSON answers in order (or a RemoteError)."""
        return self._run(self._post_all(path, list(bodies)))

    def get(self, path: str) -> dict[str, Any]:
        return self._run(self._request("GET", path, None))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        if self._client is not None:
            self._run(self._client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    # ----------------------------------------------------------------- internals
    def _run(self, coro: Any) -> Any:
        if threading.current_thread() is self._thread:
            raise RuntimeError("RemoteClient called from its own event loop")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _ensure(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        if self._client is None or self._semaphore is None:
            import httpx

            limits = httpx.Limits(
                max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency
            )
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=self._headers,
                limits=limits,
                timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
            )
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
        return self._client, self._semaphore

    async def _post_all(self, path: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        tasks = [asyncio.ensure_future(self._request("POST", path, body)) for body in bodies]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _request(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        import httpx

        client, semaphore = self._ensure()
        url = f"{self.server}{path}"
        attempt = 0
        while True:
            delay: float | None = None
            async with semaphore:
                self.requests += 1
                try:
                    response = await client.request(method, path, json=body)
                except httpx.TimeoutException as exc:
                    if attempt >= self.max_retries:
                        raise RemoteError(
                            f"{method} {url}: timed out after {self.timeout:g} s "
                            f"({attempt + 1} attempt{'s' if attempt else ''}; {type(exc).__name__})",
                            server=self.server,
                        ) from None
                except httpx.TransportError as exc:
                    if attempt >= self.max_retries:
                        raise RemoteError(
                            f"{method} {url}: cannot reach the server ({type(exc).__name__}: {exc}) "
                            f"after {attempt + 1} attempt{'s' if attempt else ''}",
                            server=self.server,
                        ) from None
                else:
                    if response.status_code < 400:
                        try:
                            return response.json()
                        except ValueError:
                            raise RemoteError(
                                f"{method} {url}: HTTP {response.status_code} but the body is not JSON",
                                server=self.server,
                                status=response.status_code,
                            ) from None
                    if response.status_code not in RETRY_STATUS or attempt >= self.max_retries:
                        tries = f" after {attempt + 1} attempts" if attempt else ""
                        raise RemoteError(
                            f"{method} {url}: HTTP {response.status_code}{tries}: {_server_message(response)}",
                            server=self.server,
                            status=response.status_code,
                        )
                    delay = _retry_after(response)
            wait = min(MAX_BACKOFF, self.backoff * (2**attempt)) * (0.75 + 0.5 * random.random())
            if delay is not None:
                wait = max(wait, min(delay, MAX_BACKOFF))
            attempt += 1
            self.retries += 1
            await asyncio.sleep(wait)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
