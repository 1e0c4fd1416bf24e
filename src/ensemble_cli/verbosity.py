"""Whether the user asked for verbose output (`ensemble --verbose` or ``ENSEMBLE_DEBUG=1``).

One switch for the whole process, read where it matters: third-party progress bars and logs
(transformers, huggingface_hub) are shown only when verbose, and errors raised inside a plugin
component carry their traceback (stderr and error records) only when verbose. It is process-wide
configuration set once at the CLI boundary (or by the environment), not per-request state.
"""

from __future__ import annotations

import os

ENV_VAR = "ENSEMBLE_DEBUG"
_TRUE = {"1", "true", "yes", "on"}


def is_verbose() -> bool:
    """True when ``--verbose`` was given or ``ENSEMBLE_DEBUG`` is set to a true value."""
    return os.environ.get(ENV_VAR, "").strip().lower() in _TRUE


def set_verbose(on: bool = True) -> None:
    """Turn verbose mode on for this process (and the worker processes it starts)."""
    if on:
        os.environ[ENV_VAR] = "1"
    else:
        os.environ.pop(ENV_VAR, None)
