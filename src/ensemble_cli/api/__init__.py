"""The public Python API (``from ensemble_cli import Ensemble``); see docs/python.md.

Small modules, one job each: ``recipes`` (path/dict/Recipe + overrides → validated recipe),
``inputs`` (what ``generate`` accepts → ``Example``s), ``ensemble`` (the ``Ensemble`` object),
``results`` (``Completion``, ``StreamPiece``), ``streams`` (sync and async streaming), ``runs``
(``ensemble run``'s contract over a dataset), ``tools`` (``evaluate``) and ``bench`` (``bench``).
"""

from .ensemble import Ensemble
from .results import Completion, StreamPiece
from .streams import Stream

__all__ = ["Completion", "Ensemble", "Stream", "StreamPiece"]
