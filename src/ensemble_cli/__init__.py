"""ensemble-cli: LLM ensemble inference (heterogeneous models cooperating on one answer) as a batch CLI
and a Python API.

``from ensemble_cli import Ensemble`` (see docs/python.md). The public names are loaded on first
use (module ``__getattr__``), so ``import ensemble_cli`` stays light: no torch, transformers or
pydantic until a name is used, and no model until one is needed. ``__all__`` is the public API;
tests pin it, and every change to it gets a CHANGELOG line.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS = {
    "Ensemble": "ensemble_cli.api.ensemble",
    "Completion": "ensemble_cli.api.results",
    "StreamPiece": "ensemble_cli.api.results",
    "Stream": "ensemble_cli.api.streams",
    "RunReport": "ensemble_cli.api.runs",
    "evaluate": "ensemble_cli.api.tools",
    "bench": "ensemble_cli.api.bench",
    "calibrate": "ensemble_cli.api.calibrate",
    "Example": "ensemble_cli.core.types",
    "Attribution": "ensemble_cli.core.types",
    "Usage": "ensemble_cli.core.types",
    "EnsembleError": "ensemble_cli.errors",
    "RecipeError": "ensemble_cli.errors",
    "UsageError": "ensemble_cli.errors",
}

__all__ = [  # a literal, so tools read it; tests check it against _EXPORTS
    "Attribution",
    "Completion",
    "Ensemble",
    "EnsembleError",
    "Example",
    "RecipeError",
    "RunReport",
    "Stream",
    "StreamPiece",
    "Usage",
    "UsageError",
    "__version__",
    "bench",
    "calibrate",
    "evaluate",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ensemble_cli' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this hook
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:
    from .api.bench import bench
    from .api.calibrate import calibrate
    from .api.ensemble import Ensemble
    from .api.results import Completion, StreamPiece
    from .api.runs import RunReport
    from .api.streams import Stream
    from .api.tools import evaluate
    from .core.types import Attribution, Example, Usage
    from .errors import EnsembleError, RecipeError, UsageError
