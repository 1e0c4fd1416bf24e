"""What a recipe's ``model`` may name, and a fast "the hub is unreachable" instead of a long retry.

A ``model`` is one of three things: a built-in alias (``ALIASES``), an existing local folder, or a
hub id of the form ``org/name``. Anything else is a typo, and recipe validation says so with a
"did you mean" among the aliases (``model_name_problem``), before any model loads. Legacy hub ids
without an org (``gpt2``) are refused on purpose: a bare word is far more often a mistyped alias,
and every such model also lives under its full ``org/name`` id.

With no network, transformers and huggingface_hub retry a hub id for about 46 s before failing.
``hub_source`` runs first: with ``HF_HUB_OFFLINE`` set, or when a short probe of the hub endpoint
(``HF_ENDPOINT``, default huggingface.co; proxies from the environment honoured) gets no answer
within ``PROBE_TIMEOUT``, a model already in the local HF cache is loaded from its cached snapshot
folder and any other fails at once, naming the hub, the reason and the offline aliases. The probe
runs once per endpoint per process.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from pathlib import Path

from ..errors import ModelLoadError, Problem
from .aliases import ALIASES

#: ``org/name``: what the hub accepts as a repo id (letters, digits, ``-``, ``_``, ``.``).
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
#: Seconds the hub probe may take, DNS included, before the hub counts as unreachable.
PROBE_TIMEOUT = 3.0
DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "true", "yes", "on"}


def is_hub_id(name: str) -> bool:
    """``org/name``, and not a folder that exists here (a local path wins, as in transformers)."""
    return bool(HUB_ID.match(name)) and not Path(name).is_dir()


def model_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a model (None when it is an alias, an existing folder or a hub id)."""
    if name in ALIASES or Path(name).is_dir() or HUB_ID.match(name):  # as the loader sees it: no ~
        return None
    from ..registry import suggest

    message = f"unknown model {name!r} — not a built-in alias, a local folder or a hub id (org/name)"
    close = suggest(name, list(ALIASES))
    if close:
        return f"{message}; did you mean {close!r}?"
    return f"{message}; built-in aliases: {', '.join(ALIASES)}"


def model_problems(name: str) -> list[Problem]:
    """``model_name_problem`` as the recipe problem of a generator's ``params.model``."""
    problem = model_name_problem(name)
    return [Problem("model", problem)] if problem else []


def offline_aliases_hint() -> str:
    return f"offline, use a built-in alias ({', '.join(ALIASES)}) or a local folder"


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_unreachable() -> str | None:
    """Why the hub cannot be used right now (``HF_HUB_OFFLINE``, or the probe's failure); None if it can."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        return "HF_HUB_OFFLINE is set"
    return _probe(hub_endpoint(), PROBE_TIMEOUT)


@functools.cache
def _probe(endpoint: str, timeout: float) -> str | None:
    """One HEAD request to ``endpoint``; any HTTP answer means reachable.

    It runs in a daemon thread so that a DNS lookup, which no socket timeout bounds, cannot hold
    the caller longer than ``timeout`` either.
    """
    outcome: list[str | None] = []

    def probe() -> None:
        import httpx

        try:
            httpx.head(endpoint, timeout=timeout, follow_redirects=False)
            outcome.append(None)
        except Exception as exc:  # ConnectError, timeouts, DNS failure, bad proxy: all "unreachable"
            outcome.append(f"{endpoint} did not answer: {type(exc).__name__}: {exc}".rstrip(": "))

    thread = threading.Thread(target=probe, name="ensemble-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return outcome[0] if outcome else f"{endpoint} did not answer within {timeout:g} s"


def cached_snapshot(repo_id: str, revision: str | None = None) -> str | None:
    """The local HF cache's folder for ``repo_id`` at ``revision``, if it was downloaded before."""
    try:
        from huggingface_hub import snapshot_download

        return str(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except Exception:  # not cached (LocalEntryNotFoundError), or huggingface_hub missing
        return None


def hub_source(name: str, revision: str | None = None) -> str:
    """What ``from_pretrained`` should get for ``name``: ``name`` itself when it is not a hub id or
    the hub answers; the cached snapshot folder when the hub is unreachable; else a ``ModelLoadError``
    at once, instead of transformers' long retries."""
    if not is_hub_id(name):
        return name
    reason = hub_unreachable()
    if reason is None:
        return name
    cached = cached_snapshot(name, revision)
    if cached is not None:
        return cached
    raise ModelLoadError(
        f"cannot load model '{name}': the model hub is unreachable ({reason}) and '{name}' is not "
        f"in the local Hugging Face cache; {offline_aliases_hint()}"
    )
