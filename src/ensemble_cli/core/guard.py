"""The boundary between the engine and the components it runs, built-in or third-party.

The pipeline builds every component through ``build_guarded``, which gives the instance checked
versions of the methods its base class's contract names (``Scorer.score``, ``Selector.select``,
``Aggregator.run``, the ``Generator`` methods and the ``SessionBatch`` its ``open`` returns). That
is the one place where a plugin's failure is turned into something a user can act on:

- an exception raised inside such a method becomes a ``ComponentError`` naming the component's kind,
  its registered name, the member (generators) and the plugin that registered it, with the original
  exception as its cause (``--verbose`` shows its traceback);
- a result that breaks the contract (too few scores, a score that is not a number, an unknown member
  name, the wrong number of results) is caught right there, with what was expected and what came
  back, instead of surfacing later as an ``IndexError`` in whichever component used it;
- our own typed errors (``EnsembleError``) pass unchanged: they are deliberate, already say what is
  wrong, and the CLI and server map them by type (``UnsupportedError`` is a 501); so does a
  ``ComponentError`` from a nested component (a scorer called by the aggregator keeps the blame);
- ``KeyboardInterrupt`` (any ``BaseException`` that is not an ``Exception``) is never touched.

Why methods on the instance rather than a proxy object: aggregators test
``isinstance(scorer, PairwiseScorer)`` and reach backend-specific attributes (``feed`` on an HF
session), so the object must stay itself. The guarded method looks the original up on the class at
each call, so a test that monkeypatches the class later still takes effect.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ComponentError, EnsembleError, describe
from .components import Component, Member
from .sessions import SessionBatch
from .types import Result, Segment, TokenScores

if TYPE_CHECKING:
    from ..recipe import ResolvedComponent

_GUARDED = "_ensemble_guarded"


@dataclass(frozen=True)
class Culprit:
    """Who to blame: a component's kind, registered name, plugin, and member (generators only)."""

    kind: str
    name: str
    plugin: str | None = None
    member: str | None = None

    def error(self, problem: str) -> ComponentError:
        return ComponentError(self.kind, self.name, self.plugin, problem, member=self.member)

    def broken(self, method: str, expected: str, got: str) -> ComponentError:
        """A result that breaks the contract of ``method``."""
        return self.error(f"returned a wrong result from {method}(): expected {expected}, got {got}")


Check = Callable[[Culprit, tuple[Any, ...], dict[str, Any], Any, Any], Any]
"""``check(culprit, args, kwargs, result, owner)``: the result to hand on (possibly normalised or itself
guarded), or raise ``ComponentError``. ``owner`` is the guarded object (a session's row count)."""


def build_guarded(component: ResolvedComponent, member: str | None = None) -> Component:
    """Build ``component`` (``cls(config)``) and guard it; a constructor that raises is blamed too."""
    culprit = Culprit(component.kind, component.type, component.plugin, member)
    try:
        instance = component.build()
    except EnsembleError:
        raise
    except Exception as exc:
        raise culprit.error(f"raised {describe(exc)} while being built") from exc
    return guard(instance, culprit)


def guard(component: Component, culprit: Culprit) -> Component:
    """Give ``component`` the checked contract methods of ``culprit.kind`` (idempotent)."""
    _install(component, culprit, _CONTRACTS.get(culprit.kind, {}))
    return component


def guard_session(session: SessionBatch, culprit: Culprit) -> SessionBatch:
    """Guard a generator's sessions like the generator itself (their errors are the generator's)."""
    _install(session, culprit, _SESSION_CONTRACT)
    return session


# -- installing ---------------------------------------------------------------------------------


def _install(obj: Any, culprit: Culprit, contract: dict[str, Check | None]) -> None:
    if getattr(obj, _GUARDED, False):
        return
    for name, check in contract.items():
        if callable(getattr(obj, name, None)):
            setattr(obj, name, _guarded(obj, name, culprit, check))
    setattr(obj, _GUARDED, True)


def _guarded(obj: Any, name: str, culprit: Culprit, check: Check | None) -> Callable[..., Any]:
    # a method set on the instance itself is kept; otherwise the class's, looked up at each call
    own = getattr(obj, "__dict__", {}).get(name)
    template = own if own is not None else getattr(type(obj), name)

    @functools.wraps(template)
    def method(*args: Any, **kwargs: Any) -> Any:
        original = own if own is not None else getattr(type(obj), name).__get__(obj, type(obj))
        try:
            result = original(*args, **kwargs)
        except EnsembleError:
            raise
        except Exception as exc:
            raise culprit.error(f"raised {describe(exc)}") from exc
        return check(culprit, args, kwargs, result, obj) if check is not None else result

    return method


# -- the contracts ------------------------------------------------------------------------------


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    return kwargs[name] if name in kwargs else args[index] if len(args) > index else None


def _got(value: Any) -> str:
    """A short description of what came back: ``a list of 1``, ``None``, ``'x' (a str)``."""
    if isinstance(value, list | tuple):
        return f"a {type(value).__name__} of {len(value)}"
    if value is None:
        return "None"
    text = repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{text} (a {type(value).__name__})"


def _sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _one_per(culprit: Culprit, method: str, result: Any, count: int, what: str, per: str) -> None:
    """``result`` must be a sequence of ``count`` items (``what``), one per ``per``."""
    if not _sequence(result) or len(result) != count:
        raise culprit.broken(method, f"a list of {count} {what} (one per {per})", _got(result))


def _numbers(culprit: Culprit, method: str, result: Any, count: int, per: str) -> list[float]:
    _one_per(culprit, method, result, count, "floats", per)
    for i, value in enumerate(result):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise culprit.broken(method, f"a list of {count} floats (one per {per})", f"{_got(value)} at index {i}")
    return [float(v) for v in result]


def _items_of(kind: type, what: str) -> Callable[[Culprit, str, Any, int, str], None]:
    def check(culprit: Culprit, method: str, result: Any, count: int, per: str) -> None:
        _one_per(culprit, method, result, count, what, per)
        for i, value in enumerate(result):
            if not isinstance(value, kind):
                raise culprit.broken(method, f"a list of {count} {what} (one per {per})", f"{_got(value)} at index {i}")

    return check


_results = _items_of(Result, "Results")
_segments = _items_of(Segment, "Segments")
_token_scores = _items_of(TokenScores, "TokenScores")


def _check_score(culprit: Culprit, args: tuple, kwargs: dict, result: Any, owner: Any) -> list[float]:
    candidates = _arg(args, kwargs, 0, "candidates") or []
    return _numbers(culprit, "score", result, len(candidates), "candidate")


def _check_compare(culprit: Culprit, args: tuple, kwargs: dict, result: Any, owner: Any) -> list[float]:
    pairs = _arg(args, kwargs, 0, "pairs") or []
    return _numbers(culprit, "compare", result, len(pairs), "pair")


def _check_select(culprit: Culprit, args: tuple, kwargs: dict, result: Any, owner: Any) -> Any:
    examples = _arg(args, kwargs, 0, "examples") or []
    members: Sequence[Member] = _arg(args, kwargs, 1, "members") or []
    _one_per(culprit, "select", result, len(examples), "lists of member names", "example")
    known = [m.name for m in members]
    expected = f"a non-empty list of names among {', '.join(map(repr, known))} for each example"
    for example, names in zip(examples, result, strict=True):
        if not _sequence(names) or not names or any(not isinstance(n, str) or n not in known for n in names):
            raise culprit.broken("select", expected, f"{_got(names)} for example {example.id!r}")
    return result


def _check_run(culprit: Culprit, args: tuple, kwargs: dict, result: Any, owner: Any) -> Any:
    _results(culprit, "run", result, len(_arg(args, kwargs, 0, "examples") or []), "example")
    return result


def _check_open(culprit: Culprit, args: tuple, kwargs: dict, result: Any, owner: Any) -> SessionBatch:
    count = len(_arg(args, kwargs, 0, "examples") or [])
    if not isinstance(result, SessionBatch) or len(result) != count:
        shape = f"a {type(result).__name__} of {len(result)} rows" if isinstance(result, SessionBatch) else _got(result)
        raise culprit.broken("open", f"a SessionBatch of {count} rows (one per example)", shape)
    return guard_session(result, culprit)


def _check_score_tokens(culprit: Culprit, args: tuple, kwargs: dict, result: Any, owner: Any) -> Any:
    _token_scores(culprit, "score_tokens", result, len(_arg(args, kwargs, 0, "items") or []), "item")
    return result


def _check_generate(culprit: Culprit, args: tuple, kwargs: dict, result: Any, owner: Any) -> Any:
    _segments(culprit, "generate", result, len(owner), "row of the batch")  # rows not asked: empty ones
    return result


_CONTRACTS: dict[str, dict[str, Check | None]] = {
    "generator": {
        "load": None,
        "offline_aliases": None,
        "open": _check_open,
        "encode_prompt": None,
        "encode_text": None,
        "decode_ids": None,
        "continuation_item": None,
        "score_tokens": _check_score_tokens,
    },
    "scorer": {"bind": None, "score": _check_score, "compare": _check_compare},
    "selector": {"select": _check_select},
    "aggregator": {"run": _check_run},
}

#: the ``SessionBatch`` contract, plus the HF backend's token-level extras when a session has them
_SESSION_CONTRACT: dict[str, Check | None] = {
    "prompt_length": None,
    "append": None,
    "generate": _check_generate,
    "rollback": None,
    "retain": None,
    "text": None,
    "token_ids": None,
    "feed": None,
    "next_logprobs": None,
    "next_logits": None,
}
