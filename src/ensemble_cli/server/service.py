"""From an HTTP request to engine jobs and back: the synchronous half of serving.

Handlers call these in a worker thread (tokenizing is CPU work and must not block the event loop):
``plan_completion`` / ``plan_chat`` turn a request into examples plus per-request sampling settings,
with every check that can fail *before* any generation (unknown model, ``max_tokens`` over the cap,
prompt over the context, bad token ids) so bad input costs a 400 and never a 500;
``generation_job`` / ``scoring_job`` / ``output_scoring_job`` wrap the work for the engine. The
response bodies are built in ``responses``.

Choices worth knowing (documented in the README):

- A completions ``prompt`` becomes a one-turn conversation (the user turn), chat-templated by each
  member like any other request: an ensemble shares one conversation across tokenizers, so there
  is no raw-text mode. Token-id prompts are decoded with the *first* member's tokenizer.
- Loglikelihood requests (``echo: true`` with ``logprobs`` and ``max_tokens`` 0 or 1, what
  lm-eval sends) are teacher-forced over the prompt's *raw* tokens, no template, as vLLM does.
  They need one distribution, so they are served by a single-model recipe or by one member named
  as the ``model``; an ensemble recipe answers 501 saying so.
- Sampling fields a request leaves out come from the recipe's ``generation`` block; the request's
  ``stop`` strings are added to the recipe's (the recipe's guard against a model quirk stays).
- Choices are ordered prompt-major: choice ``p * n + c`` is the ``c``-th sample for prompt ``p``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..core.components import Generator
from ..core.invariance import batch_invariant_scope
from ..core.pipeline import Pipeline
from ..core.types import Example, GenerationSettings, Result, ScoreItem
from ..errors import GenerationError, UnsupportedError
from .engine import Job
from .errors import APIError, bad_request
from .pipelines import Pipelines
from .schemas import (
    ChatCompletionRequest,
    CompletionRequest,
)

MAX_CHOICES = 128  #: prompts × n per request
GREEDY_BELOW = 1e-5  #: temperatures under this are greedy decoding


@dataclass
class Limits:
    max_tokens_cap: int | None = None


@dataclass
class Plan:
    """A checked request, ready to become a job."""

    model: str
    key: str
    pipeline: Pipeline
    settings: GenerationSettings
    examples: list[Example]
    prompts: list[str]  # text of each prompt (echo)
    n: int
    echo: bool = False
    loglikelihood: list[list[int]] | None = None  # token ids per prompt
    logprobs: int | None = None
    max_tokens: int = 0


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


# -- tokenizer access --------------------------------------------------------------------------


def first_generator(pipeline: Pipeline) -> Generator:
    return pipeline.members[0].generator


def tokenizer_of(gen: Generator) -> Any:
    tok = getattr(gen, "tokenizer", None)
    if tok is None:
        raise APIError(501, f"generator '{type(gen).__name__}' exposes no tokenizer", code="unsupported")
    return tok


def vocab_size(gen: Generator) -> int:
    return len(tokenizer_of(gen))


def check_ids(gen: Generator, ids: Sequence[int], param: str) -> None:
    size = vocab_size(gen)
    bad = [t for t in ids if t >= size]
    if bad:
        raise bad_request(f"token id {bad[0]} is out of range (the vocabulary has {size} tokens)", param)


def context_limit(gen: Generator) -> int | None:
    """The longest context a member accepts (``hf``: ``max_context`` or the model's positions)."""
    config = getattr(gen, "config", None)
    limit = getattr(config, "max_context", None)
    if limit is None:
        limit = getattr(getattr(gen, "loaded", None), "max_positions", None)
    return int(limit) if isinstance(limit, int) else None


def _unsupported(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except UnsupportedError as exc:
        raise APIError(501, str(exc), code="unsupported") from exc


# -- planning ----------------------------------------------------------------------------------


def _settings(base: GenerationSettings, req: CompletionRequest | ChatCompletionRequest, max_tokens: int | None,
              limits: Limits) -> GenerationSettings:
    cap = limits.max_tokens_cap
    if max_tokens is not None and cap is not None and max_tokens > cap:
        param = "max_completion_tokens" if getattr(req, "max_completion_tokens", None) else "max_tokens"
        raise bad_request(f"max_tokens {max_tokens} is over this server's cap of {cap} (--max-tokens-cap)", param)
    tokens = max_tokens if max_tokens is not None else base.max_tokens
    if cap is not None:
        tokens = min(tokens, cap)
    return replace(
        base,
        max_tokens=max(tokens, 1),
        temperature=base.temperature if req.temperature is None else _temperature(req.temperature),
        top_p=base.top_p if req.top_p is None else req.top_p,
        seed=base.seed if req.seed is None else req.seed,
        stop=list(dict.fromkeys([*base.stop, *req.stop_list()])),
    )


def _temperature(value: float) -> float:
    """Temperatures too small to divide by are greedy decoding (vLLM's rule: below 1e-5)."""
    return 0.0 if value < GREEDY_BELOW else value


def _check_context(pipeline: Pipeline, examples: Sequence[Example], max_tokens: int, param: str) -> None:
    """400 when a prompt plus ``max_tokens`` does not fit a member (checked before any work)."""
    for member in pipeline.members:
        limit = context_limit(member.generator)
        for ex in examples:
            try:
                length = len(member.generator.encode_prompt(ex))
            except UnsupportedError:
                break
            except Exception as exc:  # a chat template refusing the conversation, say
                raise bad_request(f"member '{member.name}' cannot encode this prompt: {exc}", param) from exc
            if limit is not None and length + max_tokens > limit:
                raise bad_request(
                    f"the prompt is {length} tokens for member '{member.name}' and max_tokens is {max_tokens}; "
                    f"together they exceed its context of {limit} tokens",
                    param,
                )


def _one_distribution(pipeline: Pipeline, model: str, what: str) -> None:
    """Log-probs exist for one model's distribution only: 501 for an ensemble, naming the way out."""
    if len(pipeline.members) != 1:
        names = ", ".join(repr(m.name) for m in pipeline.members)
        raise APIError(
            501,
            f"{what} need one model's distribution, and '{model}' ensembles {len(pipeline.members)}"
            f" members; send the request to one member by name (model: {names})",
            param="model",
            code="unsupported",
        )


def example_id(prompt: int, choice: int, messages: list[dict[str, str]]) -> str:
    """Ids seed the sampling streams: the same request samples the same way, and different prompts
    (or choices) sample differently, whatever else shares their batch."""
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]
    return f"p{prompt}-c{choice}-{digest}"


def _choices_check(prompts: int, n: int) -> None:
    if prompts * n > MAX_CHOICES:
        raise bad_request(f"{prompts} prompts × n={n} is over {MAX_CHOICES} choices per request", "n")


def plan_completion(req: CompletionRequest, pipelines: Pipelines, limits: Limits) -> Plan:
    key, pipeline = pipelines.get(req.model, req.ensemble)
    model = req.model or pipelines.recipe.name
    raw = req.prompt
    single = isinstance(raw, str) or (bool(raw) and isinstance(raw[0], int))
    prompts: list[Any] = [raw] if single else list(raw)
    _choices_check(len(prompts), req.n)
    gen = first_generator(pipeline)
    loglikelihood = req.echo and req.logprobs is not None and req.max_tokens in (0, 1)
    if loglikelihood:
        return _plan_loglikelihood(req, key, pipeline, model, prompts)
    if req.max_tokens == 0:
        raise bad_request("max_tokens must be at least 1 (0 is only for echo with logprobs)", "max_tokens")
    if req.logprobs is not None:
        _one_distribution(pipeline, model, "logprobs")
    texts = []
    for i, p in enumerate(prompts):
        if isinstance(p, str):
            texts.append(p)
        else:
            check_ids(gen, p, f"prompt.{i}" if len(prompts) > 1 else "prompt")
            texts.append(_unsupported(lambda p=p: gen.decode_ids(p)))
    settings = _settings(pipeline.resolved.generation, req, req.max_tokens, limits)
    examples = [
        Example(id=example_id(p, c, [{"role": "user", "content": text}]), messages=[{"role": "user", "content": text}])
        for p, text in enumerate(texts)
        for c in range(req.n)
    ]
    _check_context(pipeline, examples[:: req.n], settings.max_tokens, "prompt")
    return Plan(model, key, pipeline, settings, examples, texts, req.n, echo=req.echo, logprobs=req.logprobs)


def _plan_loglikelihood(req: CompletionRequest, key: str, pipeline: Pipeline, model: str,
                        prompts: list[Any]) -> Plan:
    _one_distribution(pipeline, model, "loglikelihood requests")
    gen = first_generator(pipeline)
    ids_list, texts = [], []
    limit = context_limit(gen)
    for i, p in enumerate(prompts):
        param = f"prompt.{i}" if len(prompts) > 1 else "prompt"
        if isinstance(p, str):
            ids = _unsupported(lambda p=p: gen.encode_text(p))
            text = p
        else:
            check_ids(gen, p, param)
            ids, text = list(p), _unsupported(lambda p=p: gen.decode_ids(p))
        if not ids:
            raise bad_request("the prompt has no tokens to score", param)
        if limit is not None and len(ids) + 1 > limit:
            raise bad_request(f"the prompt is {len(ids)} tokens; the model's context is {limit}", param)
        ids_list.append(ids)
        texts.append(text)
    _choices_check(len(prompts), req.n)
    return Plan(model, key, pipeline, pipeline.resolved.generation, [], texts, req.n, echo=True,
                loglikelihood=ids_list, logprobs=req.logprobs, max_tokens=req.max_tokens or 0)


def plan_chat(req: ChatCompletionRequest, pipelines: Pipelines, limits: Limits) -> Plan:
    key, pipeline = pipelines.get(req.model, req.ensemble)
    model = req.model or pipelines.recipe.name
    if req.logprobs:
        _one_distribution(pipeline, model, "logprobs")
    _choices_check(1, req.n)
    max_tokens = req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
    settings = _settings(pipeline.resolved.generation, req, max_tokens, limits)
    messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in req.messages]
    examples = [Example(id=example_id(0, c, messages), messages=messages) for c in range(req.n)]
    _check_context(pipeline, examples[:1], settings.max_tokens, "messages")
    logprobs = (req.top_logprobs or 0) if req.logprobs else None
    return Plan(model, key, pipeline, settings, examples, [""], req.n, logprobs=logprobs)


# -- jobs --------------------------------------------------------------------------------------


def generation_job(plan: Plan, finish: Callable[[list[Any] | None, BaseException | None], None],
                   on_text: Callable[[int, str], None] | None = None,
                   on_piece: Callable[[int, str, str | None], None] | None = None) -> Job:
    """The job generating ``plan``'s outputs; ``on_piece`` (else ``on_text``) hears each final piece."""
    s = plan.settings
    key = ("generate", plan.key, s.max_tokens, s.temperature, s.top_p, s.seed, tuple(s.stop), s.ignore_eos)
    pipeline, settings = plan.pipeline, plan.settings

    def run(items: list[Any], emit: Callable[..., None], cancelled: Callable[[int], bool]) -> list[Result]:
        results = pipeline.run_batch(items, settings=settings, on_piece=emit, cancelled=cancelled)
        for r in results:
            if r.error:
                raise GenerationError(r.error)
        return results

    return Job(key, list(plan.examples), run, finish, on_text, on_piece)


def scoring_job(plan: Plan, finish: Callable[[list[Any] | None, BaseException | None], None]) -> Job:
    """Teacher-forced scoring of each prompt; with ``max_tokens: 1`` one more (greedy) position."""
    assert plan.loglikelihood is not None
    gen = first_generator(plan.pipeline)
    invariant = plan.settings.batch_invariant
    extra = plan.max_tokens == 1
    top_k = max(plan.logprobs or 0, 1 if extra else 0)
    items = [
        ScoreItem(context_ids=ids[:1], target_ids=ids[1:] + ([ids[-1]] if extra else []))
        for ids in plan.loglikelihood
    ]

    def run(batch: list[Any], emit: Callable[[int, str], None], cancelled: Callable[[int], bool]) -> list[Any]:
        with batch_invariant_scope(invariant):
            return gen.score_tokens(batch, top_k=top_k)

    return Job(("score", plan.key, top_k), items, run, finish)


def output_scoring_job(plan: Plan, results: Sequence[Result],
                       finish: Callable[[list[Any] | None, BaseException | None], None]) -> Job:
    """Teacher-forced log-probs of each generated output under the (single) member that wrote it."""
    gen = first_generator(plan.pipeline)
    invariant = plan.settings.batch_invariant
    items = [gen.continuation_item(ex, "", r.output) for ex, r in zip(plan.examples, results, strict=True)]
    top_k = plan.logprobs or 0

    def run(batch: list[Any], emit: Callable[[int, str], None], cancelled: Callable[[int], bool]) -> list[Any]:
        with batch_invariant_scope(invariant):
            return gen.score_tokens(batch, top_k=top_k)

    return Job(("score-output", plan.key, top_k), items, run, finish)
