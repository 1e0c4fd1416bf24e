"""The on-disk cache for converted models.

``$ENSEMBLE_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/ensemble-cli``, else ``~/.cache/ensemble-cli``.
Converted models live in ``<cache>/models/<alias>-<source fingerprint>/``.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The root cache folder (created on demand by whoever writes into it)."""
    env = os.environ.get("ENSEMBLE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "ensemble-cli"
