"""Keep transformers' and huggingface_hub's own progress bars and warnings off our stderr.

Their "Loading weights" bars print on every model load and turn into ``\\r``-joined junk in a log
file; our status lines say the same thing once. Unless the user asked for ``--verbose`` (or
``ENSEMBLE_DEBUG=1``), ``quiet_third_party`` switches them off through the libraries' official
switches. It is called wherever models are loaded (``ModelPool.get`` before a loader runs,
``Pipeline.load``, the conversion workers), so the CLI commands and the Python path behave alike.

In verbose mode it changes nothing, so the libraries' defaults (or the user's own
``TRANSFORMERS_VERBOSITY`` / ``HF_HUB_DISABLE_PROGRESS_BARS``) apply.
"""

from __future__ import annotations

from .verbosity import is_verbose


def quiet_third_party() -> None:
    """Disable transformers/huggingface_hub progress bars and lower their logging to errors.

    Process-wide library configuration (like the libraries' own switches), not per-request state;
    cheap to call again. Libraries that are not installed are skipped.
    """
    if is_verbose():
        return
    try:
        from huggingface_hub.utils import disable_progress_bars
    except ImportError:  # pragma: no cover - installed with transformers
        pass
    else:
        disable_progress_bars()
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - remote-only installs
        return
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
