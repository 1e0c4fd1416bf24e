"""``resolve_model``: a recipe's ``model`` string turned into something transformers can load.

Its own module because it ties the three others together — the built-in aliases (``aliases``), the
quiet conversion workers (``prepare``) and the hub check (``hub``) — while none of them needs the
others' entry point: imports then point one way, down into ``aliases``.
"""

from __future__ import annotations

from .aliases import ALIASES
from .hub import hub_source
from .prepare import prepare_aliases


def resolve_model(name: str, *, install: bool = False, revision: str | None = None) -> str:
    """An alias becomes its converted local folder; a path is returned as is; a hub id too, unless the
    hub is unreachable (then its cached snapshot folder, or a fast ``ModelLoadError``: ``hub.py``).

    A conversion still to do runs in a quiet worker process (``prepare.prepare_aliases``), so
    transformers' own progress bars never reach our stderr, whoever asked for the model.
    """
    alias = ALIASES.get(name)
    if alias is None:
        return hub_source(name, revision)
    alias.ensure_installed(install=install)
    prepare_aliases([name])
    return str(alias.prepare(install=install))
