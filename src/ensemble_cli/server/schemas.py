"""Request and response bodies of the OpenAI-compatible API (pydantic at the HTTP edge).

Field names, defaults and shapes follow OpenAI's and vLLM's servers, because lm-evaluation-harness
and the ``openai`` client send exactly these. Unknown request fields are ignored (as vLLM does), so
clients that send extras (``user``, lm-eval's pass-through ``gen_kwargs``) keep working. Sampling
fields left out fall back to the recipe's ``generation`` block, not to OpenAI's defaults: the
recipe is the server's configuration.

Extras: a request may carry ``ensemble`` (override the recipe's selector, aggregator or scorer
for this request; validated like the recipe, never naming models) and every response carries
``ensemble`` (per choice: the selected members, who wrote which piece, scores, rounds).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_STOP = 16
MAX_LOGPROBS = 20


def _utf8(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from exc
    return value


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class StreamOptions(_Request):
    include_usage: bool = False


class EnsembleOverride(BaseModel):
    """Per-request override of the recipe's method: each entry is a recipe component spec
    (``{type, params}`` or a bare type name). Members and their models cannot be changed."""

    model_config = ConfigDict(extra="forbid")

    selector: dict[str, Any] | str | None = None
    aggregator: dict[str, Any] | str | None = None
    scorer: dict[str, Any] | str | None = None


Stop = str | Annotated[list[str], Field(max_length=MAX_STOP)] | None


class _Sampling(_Request):
    model: str | None = Field(None, description="the recipe's name or one member's name (default: the recipe)")
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    n: int = Field(1, ge=1, le=16)
    seed: int | None = None
    stop: Stop = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    ensemble: EnsembleOverride | None = None

    @field_validator("stop")
    @classmethod
    def _stop_text(cls, value: Any) -> Any:
        for s in [value] if isinstance(value, str) else value or []:
            _utf8(s)
        return value

    def stop_list(self) -> list[str]:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return [s for s in stops if s]


TokenIds = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)]
Prompt = str | Annotated[list[str], Field(min_length=1)] | TokenIds | Annotated[list[TokenIds], Field(min_length=1)]


class CompletionRequest(_Sampling):
    """``POST /v1/completions``. Token-id prompts are decoded with the first member's tokenizer."""

    prompt: Prompt
    max_tokens: int | None = Field(None, ge=0, description="default: the recipe's generation.max_tokens")
    logprobs: int | None = Field(None, ge=0, le=MAX_LOGPROBS)
    echo: bool = False

    @field_validator("prompt")
    @classmethod
    def _prompt_text(cls, value: Any) -> Any:
        for p in [value] if isinstance(value, str) else value:
            if isinstance(p, str):
                _utf8(p)
        return value


class ContentPart(_Request):
    type: Literal["text"] = "text"
    text: str

    _text = field_validator("text")(lambda cls, v: _utf8(v))


class ChatMessage(_Request):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None

    _content = field_validator("content")(lambda cls, v: _utf8(v) if isinstance(v, str) else v)

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class ChatCompletionRequest(_Sampling):
    """``POST /v1/chat/completions``: one conversation, continued as one example."""

    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_tokens: int | None = Field(None, ge=1, description="default: the recipe's generation.max_tokens")
    max_completion_tokens: int | None = Field(None, ge=1, description="takes precedence over max_tokens")
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=MAX_LOGPROBS)


class TokenizeRequest(_Request):
    """``POST /tokenize`` (vLLM's shape): text or a chat, with the first member's tokenizer."""

    model: str | None = None
    prompt: str | None = None
    messages: list[ChatMessage] | None = None
    add_special_tokens: bool = True
    add_generation_prompt: bool = True

    _prompt = field_validator("prompt")(lambda cls, v: _utf8(v) if isinstance(v, str) else v)


class DetokenizeRequest(_Request):
    model: str | None = None
    tokens: list[Annotated[int, Field(ge=0)]]


# -- responses ------------------------------------------------------------------------------------


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class CompletionLogprobs(BaseModel):
    tokens: list[str] = Field(default_factory=list)
    token_logprobs: list[float | None] = Field(default_factory=list)
    top_logprobs: list[dict[str, float] | None] = Field(default_factory=list)
    text_offset: list[int] = Field(default_factory=list)


class CompletionChoice(BaseModel):
    index: int
    text: str
    logprobs: CompletionLogprobs | None = None
    finish_reason: Literal["stop", "length"] | None = None


class AttributionOut(BaseModel):
    model: str
    round: int
    text: str
    tokens: int
    score: float | None = None


class TraceCandidateOut(BaseModel):
    """One candidate of a round: its writer, first 200 characters, full length, score, whether kept."""

    model_config = ConfigDict(extra="allow")  # method-specific keys: attempt, sample, answer
    model: str
    text: str
    chars: int
    score: float | None
    chosen: bool


class RoundTraceOut(BaseModel):
    """A round of ``aggregators.trace``: every candidate scored, exactly one chosen unless ``stop``."""

    round: int
    candidates: list[TraceCandidateOut]
    stop: str | None = None


class EnsembleChoice(BaseModel):
    index: int
    selected_models: list[str]
    attribution: list[AttributionOut]
    rounds: int
    stop_cause: str | None
    generated_tokens: int
    trace: list[RoundTraceOut] | None = Field(
        None, description="per round, the candidates the method scored and the one it kept (null: it scores none)")


class EnsembleInfo(BaseModel):
    """The ensemble's account of a response: which recipe and who wrote what, per choice."""

    recipe: str
    recipe_hash: str
    aggregator: str
    choices: list[EnsembleChoice]


class CompletionResponse(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage
    ensemble: EnsembleInfo | None = None


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int
    message: ChatMessageOut
    logprobs: dict[str, Any] | None = None
    finish_reason: Literal["stop", "length"] | None = None


class ChatCompletionResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    ensemble: EnsembleInfo | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "ensemble-cli"
    root: str | None = None
    parent: str | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
