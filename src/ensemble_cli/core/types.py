"""Plain dataclasses that flow through the engine (pydantic stays at the edges)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FinishReason = Literal["stop", "length"]


@dataclass
class Example:
    """One request: a chat conversation to continue, plus an optional reference label."""

    id: str
    messages: list[dict[str, str]]
    label: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        """The conversation as readable text (the last user turn for a single-turn chat)."""
        if len(self.messages) == 1:
            return self.messages[0]["content"]
        return "\n\n".join(f"{m['role']}: {m['content']}" for m in self.messages)


@dataclass
class GenerationSettings:
    """Sampling settings shared by every member of an ensemble for one request."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 1234
    stop: list[str] = field(default_factory=list)
    #: keep generating past end-of-sequence tokens (for benchmarks, as vLLM's ``ignore_eos``)
    ignore_eos: bool = False
    #: compute each row exactly as it would be computed alone, whatever else shares its batch (slower)
    batch_invariant: bool = False

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass
class Segment:
    """What one model wrote for one row in one ``generate`` call.

    ``finish_reason`` is ``"stop"`` when the model emitted an end-of-sequence token or a stop string
    (``stopped_by`` says which), and ``"length"`` when it ran out of its token budget.
    ``text`` never contains the stop string or the EOS token's text.
    ``top_logprobs`` (when the backend was asked for them): per token, the most likely alternatives
    as ``{token text: log-prob}`` (remote servers name tokens by text, so every backend does).
    """

    token_ids: list[int]
    text: str
    logprobs: list[float]
    finish_reason: FinishReason
    stopped_by: Literal["eos", "stop_string"] | None = None
    top_logprobs: list[dict[str, float]] | None = None

    @property
    def mean_logprob(self) -> float:
        return sum(self.logprobs) / len(self.logprobs) if self.logprobs else float("-inf")


@dataclass
class Attribution:
    """Who wrote which piece of the output: the attributed texts concatenate to the output exactly."""

    model: str
    round: int
    text: str
    tokens: int
    score: float | None = None


@dataclass
class Usage:
    """Token counts of one example.

    ``prompt_tokens``: the chat-templated prompt under the first selected member's tokenizer.
    ``completion_tokens``: tokens of the output, each segment counted in its writer's tokenizer.
    ``generated_tokens``: every token any member sampled, rejected candidates included (the cost).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    generated_tokens: int = 0


@dataclass
class Result:
    """The outcome of one example. ``error`` is set (and ``output`` empty) when the row failed."""

    id: str
    output: str = ""
    finish_reason: FinishReason | None = None
    selected_models: list[str] = field(default_factory=list)
    attribution: list[Attribution] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    rounds: int = 0
    #: why it ended: eos, stop_string, max_tokens, max_rounds, repetition, cancelled (None while unfinished)
    stop_cause: str | None = None
    error: str | None = None
    #: method-specific figures for the whole output (token-level: steps, share of steps each member won,
    #: share of gated steps); empty for methods that report none
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ScoreItem:
    """A teacher-forced scoring request: ``target_ids`` scored token by token after ``context_ids``.

    ``query_ids`` asks for the log-probability of each of those ids as the *next* token after
    context + target (judgment's yes/no mass) without scoring a whole vocabulary per caller.
    """

    context_ids: list[int]
    target_ids: list[int]
    query_ids: list[int] = field(default_factory=list)


@dataclass
class TokenScores:
    """What a model thinks of given tokens: one entry per target token, plus the query ids."""

    logprobs: list[float]
    greedy: list[bool]
    max_logprobs: list[float]
    #: KL(U || p) = -log V - mean_v log p_v per position: 0 for a uniform guess, large when confident
    certainty: list[float]
    top_logprobs: list[list[tuple[int, float]]]
    query_logprobs: list[float]

    @property
    def total(self) -> float:
        return float(sum(self.logprobs))

    @property
    def mean(self) -> float:
        return self.total / len(self.logprobs) if self.logprobs else 0.0
