"""Fast tokenizer reloads for the converted checkpoints in our cache.

transformers 5 rebuilds a tokenizer from ``tokenizer.json`` in Python (a full ``json.load`` plus a
vocabulary rebuild): about 4 s for Gemma-3's 262k vocabulary on these CPUs, more than loading its
weights. For folders that *we* wrote into the cache (the converted aliases), the loaded tokenizer
is pickled next to the checkpoint once and unpickled on later starts (about 1.2 s). The pickle is
keyed by the transformers and tokenizers versions and any failure falls back to a normal load.
Only folders under the user's own cache dir are treated this way: it is trusted like the
converted weights beside it. Anything else (hub ids, user folders) loads the normal way.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

from .cache import cache_dir


def _pickle_path(folder: Path) -> Path:
    import tokenizers
    import transformers

    return folder / f".tokenizer-{transformers.__version__}-{tokenizers.__version__}.pkl"


def _in_cache(folder: Path) -> bool:
    try:
        return folder.is_dir() and folder.resolve().is_relative_to(cache_dir().resolve())
    except OSError:
        return False


def load_tokenizer(source: str, **kwargs: Any) -> Any:
    """``AutoTokenizer.from_pretrained(source, **kwargs)``, from a pickle for our own converted folders."""
    from transformers import AutoTokenizer

    folder = Path(source)
    if not _in_cache(folder):
        return AutoTokenizer.from_pretrained(source, **kwargs)
    path = _pickle_path(folder)
    if path.exists():
        try:
            return pickle.loads(path.read_bytes())
        except Exception:  # stale or broken pickle: rebuild it below
            pass
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    _save(tokenizer, path)
    return tokenizer


def _save(tokenizer: Any, path: Path) -> None:
    """Write the pickle atomically; a read-only cache or an unpicklable tokenizer only costs speed."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=path.name, dir=path.parent)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(tokenizer, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except Exception:
        Path(tmp).unlink(missing_ok=True)
