"""ensemble-length-penalty: an example third-party plugin for ensemble-cli.

It adds one scorer, ``length-penalty`` (see ``scorer.py`` for the exact rule). ensemble-cli finds
this module through the entry point ``length_penalty`` in group ``ensemble_cli`` (pyproject.toml)
and calls its ``@hookimpl`` functions with a host-owned ``register`` callback, exactly as it does
for its own built-ins. The component module is imported inside the hook, so merely listing
plugins (``ensemble plugins``) stays cheap.
"""

from __future__ import annotations

from ensemble_cli.hookspecs import Register, hookimpl

__version__ = "0.1.0"


@hookimpl
def register_scorers(register: Register) -> None:
    """The ``length-penalty`` scorer."""
    from .scorer import LengthPenaltyScorer

    register("length-penalty", LengthPenaltyScorer)
