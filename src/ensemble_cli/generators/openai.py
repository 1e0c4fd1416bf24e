"""The ``openai`` generator: a member served by any OpenAI-compatible server.

vLLM's OpenAI server, another ``ensemble serve``, llama.cpp's server or a hosted API. Nothing runs
locally but (optionally) a tokenizer for the chat template; the server's own prefix cache makes the
re-sent context cheap.

How a session works (``endpoint: completions``, the default): a session row holds the rendered
prompt text and the text written after it (this member's segments and the other members' appended
text). ``generate`` POSTs ``/completions`` with ``prompt = prompt text + accumulated text`` for every
row at once (concurrent requests over one pooled connection set, see ``openai_client``); ``append``
and ``rollback`` only edit the row's text, no request is made.

How the prompt text is rendered: with ``tokenizer`` set (an alias, HF id or local folder, normally
the served model's own), its chat template (or the recipe's ``chat_template``) is applied locally,
exactly as the ``hf`` generator does, with a leading textual BOS dropped when the tokenizer adds
BOS itself (the server's tokenizer adds it again). Without ``tokenizer``, the plain fallback of
``templates.plain_prompt`` is used: fine for base models, a poor fit for chat models.

``endpoint: chat`` is for chat-only servers (hosted chat models): the conversation is sent as
``messages`` and the accumulated text as a final ``assistant`` message. **Limitation:** the OpenAI
chat API has no way to say "continue this assistant message"; most servers treat it as a finished
turn and start a new one, so segment-level methods lose the continuation. vLLM does continue it
with ``extra_body: {continue_final_message: true, add_generation_prompt: false}``. Prefer
``completions`` whenever the server offers it.

What comes back: text, ``finish_reason`` (``stop``/``length``; ``stopped_by`` is ``stop_string``
when the server reports a string ``stop_reason`` as vLLM does, else ``eos``), the chosen tokens'
log-probs and ``top_logprobs`` alternatives when the server returns them (ask with ``logprobs``).
Standard servers don't return token ids, so ``Segment.token_ids`` holds one ``-1`` per generated
token (counts stay right); with vLLM's ``extra_body: {return_tokens_as_token_ids: true}`` the real
ids are parsed from the ``token_id:N`` token names. Token-level methods need next-token
distributions over a live session, which this backend cannot give (DESIGN.md §3).

The API key is read from the environment variable *named* by ``api_key_env`` when the client is
created; the recipe (and so every output record) holds only that name.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from ..core.components import ComponentConfig, Generator
from ..core.pool import ModelPool, default_pool, spec_key
from ..core.seeding import row_seed
from ..core.sessions import SessionBatch, SessionStats
from ..core.types import Example, GenerationSettings, Segment
from ..errors import GenerationError, ModelLoadError
from .openai_client import RemoteClient, RemoteError
from .templates import render_prompt, server_prompt_text, with_system


class OpenAIConfig(ComponentConfig):
    base_url: str = Field(description="the server's API root, e.g. http://gpu-node-1:8000/v1")
    model: str = Field(description="model name as the server knows it (its /v1/models id)")
    api_key_env: str | None = Field(
        None, description="name of the environment variable holding the API key (the key is never in the recipe)"
    )
    endpoint: Literal["completions", "chat"] = Field(
        "completions", description="completions (continuations, the default) or chat (chat-only models)"
    )
    tokenizer: str | None = Field(
        None, description="alias, HF id or folder whose chat template renders the prompt (completions)"
    )
    chat_template: str = Field("auto", description="'auto', 'plain', or a Jinja template (with tokenizer)")
    system_prompt: str | None = Field(None, description="prepended as a system turn when the request has none")
    logprobs: int | None = Field(
        0, ge=0, le=20, description="top alternatives per token to request (0: chosen token only; null: none)"
    )
    max_concurrency: int = Field(16, ge=1, le=1024, description="requests in flight to this server at most")
    timeout: float = Field(120.0, gt=0, description="seconds to wait for one response")
    max_retries: int = Field(4, ge=0, le=20, description="retries on connection errors, timeouts, 429 and 5xx")
    backoff: float = Field(0.5, ge=0, description="first retry delay in seconds (doubles per retry)")
    check_model: bool = Field(True, description="on load, check that GET /models lists the model")
    extra_body: dict[str, Any] = Field(default_factory=dict, description="extra JSON fields for every request")


@dataclass
class RemoteModel:
    """What one ``openai`` member holds per process: the client and the optional local tokenizer."""

    client: RemoteClient
    tokenizer: Any | None


def _api_key(config: OpenAIConfig) -> str | None:
    if config.api_key_env is None:
        return None
    key = os.environ.get(config.api_key_env)
    if not key:
        raise ModelLoadError(
            f"the environment variable {config.api_key_env} (api_key_env of the openai member for "
            f"{config.model!r}) is not set"
        )
    return key


def connect(config: OpenAIConfig) -> RemoteModel:
    """Create the client (and load the tokenizer); check the server serves the model if asked."""
    client = RemoteClient(
        config.base_url,
        api_key=_api_key(config),
        timeout=config.timeout,
        max_retries=config.max_retries,
        backoff=config.backoff,
        max_concurrency=config.max_concurrency,
    )
    tokenizer = None
    if config.tokenizer:
        from ..models import resolve_model
        from ..models.tokenizer_cache import load_tokenizer

        source = resolve_model(config.tokenizer)
        try:
            tokenizer = load_tokenizer(source)
        except OSError as exc:
            client.close()
            raise ModelLoadError(f"cannot load tokenizer '{config.tokenizer}' ({source}): {exc}") from exc
    if config.check_model:
        try:
            listing = client.get("/models")
        except RemoteError as exc:
            if exc.status in (404, 405, 501):  # no /models on this server: nothing to check
                listing = {}
            else:
                client.close()
                raise ModelLoadError(f"model server for {config.model!r} is not usable: {exc}") from exc
        served = [m.get("id") for m in listing.get("data", []) if isinstance(m, dict)]
        if served and config.model not in served:
            client.close()
            raise ModelLoadError(f"{client.server} serves {served}, not {config.model!r} (check models[].params.model)")
    return RemoteModel(client, tokenizer)


class OpenAIGenerator(Generator):
    """A member behind an OpenAI-compatible HTTP server (see the module docstring)."""

    description = "any OpenAI-compatible server (vLLM, ensemble serve, llama.cpp, hosted APIs) over HTTP"
    Config = OpenAIConfig
    config: OpenAIConfig
    #: token-level methods need live next-token distributions; a remote server can't give them
    token_level = False

    def __init__(self, config: OpenAIConfig | None = None, pool: ModelPool | None = None) -> None:
        super().__init__(config)
        self.pool = pool

    @property
    def remote(self) -> RemoteModel:
        pool = self.pool or default_pool()
        return pool.get(spec_key("openai", self.config), lambda: connect(self.config))

    def load(self) -> None:
        _ = self.remote

    def offline_aliases(self) -> list[str]:
        from ..models import get_alias

        tok = self.config.tokenizer
        return [tok] if tok and get_alias(tok) is not None else []

    def open(
        self, examples: Sequence[Example], settings: GenerationSettings, *, salt: str = ""
    ) -> OpenAISessionBatch:
        remote = self.remote
        cfg = self.config
        rows = []
        for ex in examples:
            seed = row_seed(settings.seed, ex.id, salt)
            if cfg.endpoint == "chat":
                rows.append(_Row(messages=with_system(ex.messages, cfg.system_prompt), seed=seed))
                continue
            text, add_special = render_prompt(
                remote.tokenizer, ex.messages, chat_template=cfg.chat_template, system_prompt=cfg.system_prompt
            )
            n_prompt = len(remote.tokenizer.encode(text, add_special_tokens=add_special)) if remote.tokenizer else 0
            rows.append(_Row(prompt=server_prompt_text(remote.tokenizer, text, add_special), seed=seed,
                             prompt_tokens=n_prompt))
        return OpenAISessionBatch(remote.client, cfg, rows)


@dataclass
class _Row:
    prompt: str = ""  # completions: the rendered prompt text
    messages: list[dict[str, str]] = field(default_factory=list)  # chat: the conversation
    seed: int | None = None
    prompt_tokens: int = 0  # known only with a local tokenizer
    text: str = ""  # the shared text after the prompt
    calls: int = 0  # generate calls so far (varies the seed per round)
    last_text: str = ""
    last_count: int = 0  # tokens of the last segment
    last_pieces: list[str] | None = None  # per-token texts of the last segment, when known


class OpenAISessionBatch(SessionBatch):
    """Text-prefix sessions over a remote server (see the module docstring)."""

    def __init__(self, client: RemoteClient, config: OpenAIConfig, rows: list[_Row]) -> None:
        self.client = client
        self.config = config
        self.rows = rows
        self.stats = SessionStats(prompt_tokens=sum(r.prompt_tokens for r in rows))

    def __len__(self) -> int:
        return len(self.rows)

    def prompt_length(self, row: int) -> int:
        """Prompt tokens under the local tokenizer; 0 when none is configured (unknown here)."""
        return self.rows[row].prompt_tokens

    def text(self, row: int) -> str:
        return self.rows[row].text

    def append(self, texts: Sequence[str | None]) -> None:
        if len(texts) != len(self.rows):
            raise ValueError(f"append got {len(texts)} texts for {len(self.rows)} rows")
        for r, new in zip(self.rows, texts, strict=True):
            if new:
                r.text += new
                r.last_text, r.last_pieces, r.last_count = "", None, 0

    def rollback(self, row: int, n_tokens: int) -> None:
        r = self.rows[row]
        if n_tokens <= 0:
            return
        if n_tokens > r.last_count:
            raise ValueError(f"rollback of {n_tokens} tokens but the last generate wrote {r.last_count} for row {row}")
        base = r.text[: len(r.text) - len(r.last_text)]
        keep = r.last_count - n_tokens
        if keep == 0:
            r.text, r.last_text, r.last_pieces, r.last_count = base, "", None, 0
            return
        pieces = r.last_pieces
        if pieces is None or not "".join(pieces).startswith(r.last_text):
            raise GenerationError(
                f"{self.client.server}: a partial rollback needs the tokens' texts "
                "(request logprobs for this member, without return_tokens_as_token_ids)"
            )
        kept = "".join(pieces[:keep])[: len(r.last_text)]
        r.text, r.last_text, r.last_pieces, r.last_count = base + kept, kept, pieces[:keep], keep

    def retain(self, rows: Sequence[int]) -> None:
        self.rows = [self.rows[i] for i in rows]

    def generate(
        self,
        max_tokens: int | Sequence[int],
        *,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        top_p: float = 1.0,
        rows: Sequence[int] | None = None,
        ignore_eos: bool = False,
    ) -> list[Segment]:
        n = len(self.rows)
        budgets = [max_tokens] * n if isinstance(max_tokens, int) else list(max_tokens)
        wanted = set(range(n)) if rows is None else set(rows)
        todo = [i for i in range(n) if i in wanted and budgets[i] > 0]
        for r in self.rows:
            r.last_text, r.last_pieces, r.last_count = "", None, 0
        segments = [Segment([], "", [], "length") for _ in range(n)]
        if not todo:
            return segments
        bodies = [self._body(self.rows[i], budgets[i], stop, temperature, top_p, ignore_eos) for i in todo]
        path = "/chat/completions" if self.config.endpoint == "chat" else "/completions"
        answers = self.client.post_many(path, bodies)
        self.stats.forward_calls += len(todo)
        for i, answer in zip(todo, answers, strict=True):
            seg, pieces = self._segment(answer)
            r = self.rows[i]
            r.calls += 1
            r.text += seg.text
            r.last_text, r.last_pieces, r.last_count = seg.text, pieces, len(seg.token_ids)
            self.stats.generated_tokens += len(seg.token_ids)
            segments[i] = seg
        return segments

    # ----------------------------------------------------------------- request / response
    def _body(
        self, r: _Row, budget: int, stop: Sequence[str], temperature: float, top_p: float, ignore_eos: bool
    ) -> dict[str, Any]:
        cfg = self.config
        body: dict[str, Any] = {"model": cfg.model, "max_tokens": budget, "temperature": temperature, "top_p": top_p}
        if stop:
            body["stop"] = list(stop)
        if r.seed is not None:
            body["seed"] = row_seed(r.seed, str(r.calls)) & 0x7FFFFFFF  # type: ignore[operator]
        if ignore_eos:
            body["ignore_eos"] = True  # a vLLM extension; only sent when asked for
        if cfg.endpoint == "chat":
            body["messages"] = r.messages + ([{"role": "assistant", "content": r.text}] if r.text else [])
            if cfg.logprobs is not None:
                body["logprobs"] = True
                if cfg.logprobs:
                    body["top_logprobs"] = cfg.logprobs
        else:
            body["prompt"] = r.prompt + r.text
            if cfg.logprobs is not None:
                body["logprobs"] = cfg.logprobs
        body.update(cfg.extra_body)
        return body

    def _segment(self, answer: dict[str, Any]) -> tuple[Segment, list[str] | None]:
        server = self.client.server
        try:
            choice = answer["choices"][0]
        except (KeyError, IndexError, TypeError):
            raise RemoteError(f"{server}: the response has no choices", server=server) from None
        if self.config.endpoint == "chat":
            text = (choice.get("message") or {}).get("content") or ""
            tokens, lps, tops = _chat_logprobs(choice.get("logprobs"))
        else:
            text = choice.get("text") or ""
            tokens, lps, tops = _completion_logprobs(choice.get("logprobs"))
        if tokens is not None:
            count = len(tokens)
        else:
            usage = answer.get("usage") or {}
            if "completion_tokens" not in usage:
                raise RemoteError(f"{server}: the response has neither logprobs nor usage; cannot count tokens",
                                  server=server)
            count = int(usage["completion_tokens"])
        reason = choice.get("finish_reason")
        finish = "length" if reason == "length" else "stop"
        stopped_by = None
        if reason == "stop":
            stopped_by = "stop_string" if isinstance(choice.get("stop_reason"), str) else "eos"
        ids = _token_ids(tokens) if tokens is not None else None
        seg = Segment(
            token_ids=ids if ids is not None else [-1] * count,
            text=text,
            logprobs=lps,
            finish_reason=finish,  # type: ignore[arg-type]
            stopped_by=stopped_by,  # type: ignore[arg-type]
            top_logprobs=tops,
        )
        return seg, tokens


def _completion_logprobs(lp: Any) -> tuple[list[str] | None, list[float], list[dict[str, float]] | None]:
    if not isinstance(lp, dict) or lp.get("tokens") is None:
        return None, [], None
    tokens = [str(t) for t in lp["tokens"]]
    values = [float(x) for x in lp.get("token_logprobs") or [] if x is not None]
    tops_raw = lp.get("top_logprobs")
    tops = [{str(k): float(v) for k, v in (d or {}).items()} for d in tops_raw] if tops_raw else None
    return tokens, values, tops


def _chat_logprobs(lp: Any) -> tuple[list[str] | None, list[float], list[dict[str, float]] | None]:
    content = lp.get("content") if isinstance(lp, dict) else None
    if content is None:
        return None, [], None
    tokens = [str(c.get("token", "")) for c in content]
    values = [float(c["logprob"]) for c in content if c.get("logprob") is not None]
    tops = [{str(t["token"]): float(t["logprob"]) for t in c.get("top_logprobs") or []} for c in content]
    return tokens, values, tops if any(tops) else None


def _token_ids(tokens: list[str]) -> list[int] | None:
    """Real ids when the server names tokens ``token_id:N`` (vLLM's return_tokens_as_token_ids)."""
    if not tokens or not all(t.startswith("token_id:") for t in tokens):
        return None
    try:
        return [int(t.split(":", 1)[1]) for t in tokens]
    except ValueError:
        return None
