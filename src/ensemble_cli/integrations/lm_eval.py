"""lm-evaluation-harness in-process: ``EnsembleLM``, an ``lm_eval`` model registered as ``ensemble``.

``lm_eval.simple_evaluate(model=EnsembleLM("recipe.yaml"), tasks=[...])`` or ``lm-eval run --model
ensemble --model_args recipe=recipe.yaml`` (``ensemble lm-eval RECIPE ...`` registers it and runs
lm-eval's own CLI). No server and no HTTP: the recipe's models load once in this process.

It answers exactly as ``ensemble serve`` + lm-eval's ``local-completions`` do, so a score does not
depend on which of the two ran it (the tests compare them sample by sample):

- ``generate_until``: each context is one user turn, chat-templated by every member (as a
  completions ``prompt`` on the server), batched ``batch_size`` at a time through ``Ensemble.generate``.
  Generation kwargs are lm-eval's own normalization (``normalize_gen_kwargs``): ``max_gen_toks``
  (and its aliases), ``temperature`` (0 unless ``do_sample`` with a temperature; ``do_sample: false``
  is greedy whatever the temperature), ``top_p``, ``until`` added to the recipe's stop strings, and
  the output cut at the first ``until`` string as lm-eval's API models cut it. A request's seed
  is derived from its text the way the server derives it, so sampling is reproducible and does not
  depend on the batch. Other kwargs (``top_k``, ...) are not ensemble settings: warned once, ignored.
- ``loglikelihood`` / ``loglikelihood_rolling``: teacher-forced over the raw tokens (no chat
  template), lm-eval's tokenization (``TemplateLM``: trailing spaces move to the continuation,
  an empty context is the end-of-text token) with the scoring member's tokenizer. Log-probs are one
  model's distribution: a single-model recipe, or one member named with ``member=``; an ensemble
  recipe is refused with the server's message (it answers 501 there).

``member=NAME`` runs that member alone for every request type (the server's ``model: NAME``), the
way to score one member of an ensemble recipe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import GenerationError, UnsupportedError, UsageError

EXTRA_HINT = "pip install 'ensemble-cli[lm-eval]'"

try:
    from lm_eval import utils as lm_utils
    from lm_eval.api.model import TemplateLM
    from lm_eval.api.registry import register_model
    from lm_eval.models.utils import normalize_gen_kwargs, postprocess_generated_text
except ModuleNotFoundError as exc:  # the optional extra is missing: say which one
    if exc.name is None or not exc.name.startswith("lm_eval"):
        raise
    raise UsageError(f"the lm-eval integration needs the 'lm-eval' extra (lm_eval is missing): {EXTRA_HINT}") from None

if TYPE_CHECKING:
    from lm_eval.api.instance import Instance

    from ..api.ensemble import Ensemble
    from ..core.components import Generator
    from ..core.types import Example

log = logging.getLogger(__name__)

#: generation kwargs that are ensemble settings (the rest are warned about and ignored)
_USED = {"until", "max_gen_toks", "do_sample", "temperature", "top_p"}
DEFAULT_MAX_LENGTH = 2048  #: context for scoring when the member declares none (lm-eval's default)


def request_id(messages: list[dict[str, str]]) -> str:
    """The example id (hence the sampling seed) the server gives a one-prompt completions request
    (``server.service.example_id(0, 0, messages)``): the same text samples the same way here and there."""
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]
    return f"p0-c0-{digest}"


@register_model("ensemble")
class EnsembleLM(TemplateLM):
    """An ensemble recipe as an lm-eval model (see the module docstring for the semantics).

    ``recipe``: a recipe path, dict, ``Recipe`` or an ``Ensemble`` (its loaded models are reused).
    ``overrides``: ``--set`` strings or a dict of dotted keys, as ``Ensemble.from_recipe``.
    ``member``: run that member alone (and score with it). ``batch_size``: examples per pipeline
    batch (lm-eval's ``--batch_size``; ``auto`` is 8). ``max_gen_toks``: used when a task gives
    none (default: the recipe's ``generation.max_tokens``). ``max_length``: the scoring context
    (default: the member's). ``device`` and ``max_batch_size`` come from lm-eval and are ignored:
    the recipe says where each model runs.
    """

    def __init__(
        self,
        recipe: Any,
        overrides: Sequence[str] | dict[str, Any] | str | None = None,
        member: str | None = None,
        batch_size: int | str | None = None,
        max_gen_toks: int | None = None,
        max_length: int | None = None,
        max_batch_size: int | None = None,
        device: str | None = None,
        **unknown: Any,
    ) -> None:
        super().__init__()
        from ..api.ensemble import Ensemble

        if unknown:
            raise UsageError(
                f"EnsembleLM: unknown argument(s) {', '.join(sorted(unknown))}; it takes recipe, overrides, "
                "member, batch_size, max_gen_toks, max_length"
            )
        size = _batch_size(batch_size)
        if isinstance(recipe, Ensemble):
            if overrides:
                raise UsageError("EnsembleLM: overrides apply to a recipe, not to an Ensemble already built")
            base, self._owns = recipe, False
        else:
            if isinstance(recipe, str | Path) and not str(recipe).strip():
                raise UsageError("EnsembleLM needs a recipe (model_args recipe=PATH)")
            base, self._owns = Ensemble.from_recipe(recipe, overrides, batch_size=size or 8), True
        self._base = base
        self.ensemble = base if member is None else _member_ensemble(base, member, size)
        if size is not None:
            self.ensemble.batch_size = size
        self.member = member
        self._max_gen_toks = max_gen_toks
        self._max_length = max_length
        self._warned: set[str] = set()

    # -- what lm-eval asks of a model --------------------------------------------------------------
    @property
    def batch_size(self) -> int:
        return self.ensemble.batch_size

    @property
    def max_gen_toks(self) -> int:
        return int(self._max_gen_toks or self.ensemble.resolved.generation.max_tokens)

    @property
    def tokenizer_name(self) -> str:
        """Fingerprints lm-eval's request cache: the recipe's hash (models, method and settings)."""
        return f"ensemble-{self.ensemble.name}-{self.ensemble.recipe_hash}"

    @property
    def scorer(self) -> Generator:
        """The one member whose distribution loglikelihood requests read (refused for an ensemble)."""
        ens = self.ensemble
        if len(ens.members) != 1:
            names = ", ".join(repr(m) for m in ens.members)
            raise UnsupportedError(
                f"loglikelihood requests need one model's distribution, and '{ens.name}' ensembles "
                f"{len(ens.members)} members; send the request to one member by name "
                f"(EnsembleLM(recipe, member=...), lm-eval --model_args member=...: {names})"
            )
        ens.load()
        return ens.pipeline.members[0].generator

    @property
    def eot_token_id(self) -> int:
        tok = _tokenizer(self.scorer)
        return int(tok.eos_token_id if tok.eos_token_id is not None else tok.bos_token_id)

    @property
    def prefix_token_id(self) -> int:
        """What an empty context (and a rolling window's start) is conditioned on: the BOS token,
        else end-of-text, as lm-eval's HF and API models choose it."""
        tok = _tokenizer(self.scorer)
        return int(tok.bos_token_id if tok.bos_token_id is not None else self.eot_token_id)

    @property
    def max_length(self) -> int:
        if self._max_length:
            return int(self._max_length)
        gen = self.scorer
        limit = getattr(getattr(gen, "config", None), "max_context", None)
        limit = limit or getattr(getattr(gen, "loaded", None), "max_positions", None)
        return int(limit) if isinstance(limit, int) else DEFAULT_MAX_LENGTH

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs: Any) -> list[int]:
        gen = self.scorer
        if add_special_tokens:
            return list(_tokenizer(gen).encode(string, add_special_tokens=True))
        return list(gen.encode_text(string))

    def tok_decode(self, tokens: Sequence[int], **kwargs: Any) -> str:
        return str(self.scorer.decode_ids(list(tokens)))

    # -- scoring -----------------------------------------------------------------------------------
    def _loglikelihood_tokens(
        self, requests: list[tuple[Any, list[int], list[int]]], disable_tqdm: bool = False, **kwargs: Any
    ) -> list[tuple[float, bool]]:
        """Sum of the continuation's log-probs and whether greedy decoding would write it; the
        context is left-truncated to ``max_length`` as lm-eval's API models truncate it."""
        from ..core.invariance import batch_invariant_scope
        from ..core.types import ScoreItem

        gen, limit = self.scorer, self.max_length
        items = []
        for _key, context, continuation in requests:
            if not continuation:
                raise UsageError("lm-eval sent a loglikelihood request with an empty continuation")
            whole = (context + continuation)[-limit:]
            cut = max(0, len(context) + len(continuation) - limit)
            items.append(ScoreItem(context_ids=whole[: len(context) - cut], target_ids=whole[len(context) - cut :]))
        out: list[tuple[float, bool]] = []
        with batch_invariant_scope(self.ensemble.resolved.generation.batch_invariant):
            for batch in _progress(_chunks(items, self.batch_size), len(items), "scoring", disable_tqdm):
                out += [(s.total, all(s.greedy)) for s in gen.score_tokens(batch)]
        for (key, _c, _t), answer in zip(requests, out, strict=True):
            if key is not None:
                self.cache_hook.add_partial("loglikelihood", key, answer)
        return out

    def loglikelihood_rolling(self, requests: list[Instance], disable_tqdm: bool = False) -> list[float]:
        """Each document's total log-likelihood, in disjoint windows of ``max_length`` tokens."""
        out = []
        bar = _bar(len(requests), "rolling log-likelihood", disable_tqdm)
        for (text,) in (r.args for r in requests):
            windows = [
                (None, *lm_utils.make_disjoint_window(w))
                for w in lm_utils.get_rolling_token_windows(
                    token_list=self.tok_encode(text), prefix_token=self.prefix_token_id,
                    max_seq_len=self.max_length - 1, context_len=1,
                )
            ]
            total = sum(lp for lp, _ in self._loglikelihood_tokens(windows, disable_tqdm=True))
            self.cache_hook.add_partial("loglikelihood_rolling", (text,), total)
            out.append(total)
            bar.update(1)
        bar.close()
        return out

    # -- generation --------------------------------------------------------------------------------
    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        """Each context answered by the pipeline, requests with equal settings batched together."""
        from ..core.types import Example

        groups: dict[str, list[int]] = {}
        settings: dict[str, tuple[dict[str, Any], list[str]]] = {}
        for i, request in enumerate(requests):
            sampling, until = self._sampling(request.args[1])
            key = json.dumps(sampling, sort_keys=True)
            groups.setdefault(key, []).append(i)
            settings[key] = (sampling, until)
        out: list[str] = [""] * len(requests)
        bar = _bar(len(requests), "generating", disable_tqdm)
        for key, indices in groups.items():
            sampling, until = settings[key]
            for chunk in _chunks(indices, self.batch_size):
                examples = [_example(Example, requests[i].args[0]) for i in chunk]
                for i, completion in zip(chunk, self.ensemble.generate(examples, **sampling), strict=True):
                    if completion.error:
                        raise GenerationError(f"lm-eval request {i}: {completion.error}")
                    out[i] = postprocess_generated_text(completion.text, until, None)
                    self.cache_hook.add_partial("generate_until", requests[i].args, out[i])
                bar.update(len(chunk))
        bar.close()
        return out

    def _sampling(self, gen_kwargs: dict[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
        """lm-eval's kwargs as ``Ensemble.generate`` sampling arguments, and the ``until`` strings."""
        kwargs = normalize_gen_kwargs(dict(gen_kwargs or {}), default_max_gen_toks=self.max_gen_toks)
        ignored = sorted(set(kwargs) - _USED - {"max_gen_toks"})
        for name in ignored:
            if name not in self._warned:
                self._warned.add(name)
                warnings.warn(f"EnsembleLM: generation kwarg {name!r} is not an ensemble setting; ignored",
                              stacklevel=3)
        until = [s for s in kwargs["until"] if isinstance(s, str) and s]
        recipe_stop = list(self.ensemble.resolved.generation.stop)
        sampling: dict[str, Any] = {
            "max_tokens": int(kwargs["max_gen_toks"]),
            "temperature": float(kwargs.get("temperature") or 0.0),
            "stop": list(dict.fromkeys([*recipe_stop, *until])),
        }
        if kwargs.get("top_p") is not None:
            sampling["top_p"] = float(kwargs["top_p"])
        return sampling, until

    # -- life cycle --------------------------------------------------------------------------------
    def close(self) -> None:
        """Let go of the models (those no other ``Ensemble`` holds are freed); an ``Ensemble`` passed
        in stays open (its owner closes it)."""
        if self.ensemble is not self._base:
            self.ensemble.close()
        if self._owns:
            self._base.close()


def run_cli(args: Sequence[str]) -> None:
    """lm-eval's own command line (``lm-eval ARGS``) with ``ensemble`` registered (this module)."""
    import sys

    from lm_eval.__main__ import cli_evaluate

    saved = sys.argv
    sys.argv = ["lm-eval", *args]
    try:
        cli_evaluate()
    finally:
        sys.argv = saved


def _member_ensemble(base: Ensemble, member: str, batch_size: int | None) -> Ensemble:
    """``member`` of ``base``'s recipe alone (the server's ``model: NAME``), sharing its model pool."""
    from ..api.ensemble import Ensemble
    from ..evaluation.bench import member_recipe

    if member not in base.members:
        known = ", ".join(repr(m) for m in base.members)
        raise UsageError(f"EnsembleLM: member {member!r} is not in recipe '{base.name}' (members: {known})")
    return Ensemble(member_recipe(base.resolved, member), pool=base._lease.pool, batch_size=batch_size or 8)


def _batch_size(value: int | str | None) -> int | None:
    """lm-eval's ``--batch_size``: a number, ``auto`` / ``auto:N`` (the default, 8) or nothing."""
    if value is None or (isinstance(value, str) and value.startswith("auto")):
        return None
    try:
        size = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"EnsembleLM: batch_size must be a number or 'auto', got {value!r}") from None
    if size < 1:
        raise UsageError(f"EnsembleLM: batch_size must be at least 1, got {size}")
    return size


def _example(cls: type[Example], context: str) -> Example:
    if not isinstance(context, str):
        raise UsageError(f"EnsembleLM: generate_until takes text contexts, got {type(context).__name__}")
    messages = [{"role": "user", "content": context}]
    return cls(id=request_id(messages), messages=messages)


def _tokenizer(gen: Generator) -> Any:
    tok = getattr(gen, "tokenizer", None)
    if tok is None:
        raise UnsupportedError(f"generator '{type(gen).__name__}' exposes no tokenizer; lm-eval scoring needs one")
    return tok


def _chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for first in range(0, len(items), size):
        yield list(items[first : first + size])


def _bar(total: int, desc: str, disable: bool) -> Any:
    from tqdm import tqdm  # lm-eval's own progress bars

    return tqdm(total=total, desc=f"ensemble: {desc}", disable=disable)


def _progress(chunks: Iterator[Any], total: int, desc: str, disable: bool) -> Iterator[Any]:
    bar = _bar(total, desc, disable)
    for chunk in chunks:
        yield chunk
        bar.update(len(chunk))
    bar.close()
