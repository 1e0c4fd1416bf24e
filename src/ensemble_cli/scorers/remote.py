"""The ``remote`` scorer: candidates are scored by an HTTP endpoint you run.

The contract (JSON over ``POST {url}``, ``batch_size`` candidates per request)::

    request:  {"candidates": [{"id": "<example id>", "messages": [{"role": ..., "content": ...}, ...],
                               "prompt": "<the conversation as text>", "prefix": "<output so far>",
                               "text": "<the candidate>", "member": "<who wrote it>"}, ...],
               "params": {...}}                    # the config's ``params``, passed through as is
    response: {"scores": [<number>, ...]}          # one per candidate, same order, higher is better

Any 2xx response must have exactly that shape (a NaN score counts as ``-inf``). Connection
errors, timeouts and 5xx responses are retried ``retries`` times with exponential backoff
(``backoff``, ``2*backoff``, ...); 4xx responses and malformed bodies are not (retrying cannot fix
them). When the endpoint stays down the scorer raises ``RemoteScorerError`` naming the URL and the
last failure, and the rows of that batch are recorded as errors by the caller.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from ..core.components import Candidate, ComponentConfig, Scorer
from ..errors import GenerationError


class RemoteScorerError(GenerationError):
    """The scoring endpoint is down, timed out, refused the request or answered nonsense."""


class RemoteConfig(ComponentConfig):
    url: str = Field(pattern=r"^https?://", description="the scoring endpoint (POST)")
    timeout: float = Field(30.0, gt=0, description="seconds per request")
    retries: int = Field(2, ge=0, description="extra attempts after a connection error, timeout or 5xx")
    backoff: float = Field(0.5, ge=0, description="seconds before the first retry (doubles each time)")
    batch_size: int = Field(64, gt=0, description="candidates per request")
    headers: dict[str, str] = Field(default_factory=dict, description="extra HTTP headers (e.g. Authorization)")
    params: dict[str, Any] = Field(default_factory=dict, description="passed through to the endpoint")


def _payload(c: Candidate) -> dict[str, Any]:
    return {
        "id": c.example.id, "messages": c.example.messages, "prompt": c.example.prompt,
        "prefix": c.prefix, "text": c.segment.text, "member": c.member,
    }


class RemoteScorer(Scorer):
    description = "POSTs candidates to a scoring HTTP endpoint ({candidates} -> {scores})"
    Config = RemoteConfig
    config: RemoteConfig

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        import httpx

        if not candidates:
            return []
        cfg = self.config
        scores: list[float] = []
        with httpx.Client(timeout=cfg.timeout, headers=cfg.headers) as client:
            for start in range(0, len(candidates), cfg.batch_size):
                chunk = candidates[start : start + cfg.batch_size]
                body = {"candidates": [_payload(c) for c in chunk], "params": cfg.params}
                scores += self._parse(self._post(client, body), len(chunk))
        return scores

    def _post(self, client: Any, body: dict[str, Any]) -> Any:
        import httpx

        cfg = self.config
        last = ""
        for attempt in range(cfg.retries + 1):
            if attempt:
                time.sleep(cfg.backoff * 2 ** (attempt - 1))
            try:
                response = client.post(cfg.url, json=body)
            except httpx.TimeoutException:
                last = f"timed out after {cfg.timeout:g} s"
                continue
            except httpx.TransportError as exc:
                last = f"cannot connect ({type(exc).__name__}: {exc})"
                continue
            if response.status_code >= 500:
                last = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            if response.status_code >= 400:
                code, text = response.status_code, response.text[:200]
                raise RemoteScorerError(f"scoring endpoint {cfg.url} refused the request: HTTP {code}: {text}")
            try:
                return response.json()
            except ValueError as exc:
                raise RemoteScorerError(f"scoring endpoint {cfg.url} did not answer JSON: {exc}") from exc
        tries = cfg.retries + 1
        raise RemoteScorerError(f"scoring endpoint {cfg.url} failed after {tries} attempt(s): {last}")

    def _parse(self, data: Any, n: int) -> list[float]:
        scores = data.get("scores") if isinstance(data, dict) else None
        ok = isinstance(scores, list) and len(scores) == n
        ok = ok and all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in scores)
        if not ok:
            raise RemoteScorerError(
                f"scoring endpoint {self.config.url} must answer {{\"scores\": [{n} numbers]}}, got {str(data)[:200]}"
            )
        return [float(s) if not math.isnan(s) else float("-inf") for s in scores]
