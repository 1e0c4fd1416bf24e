"""Launch ``ensemble`` with the fixture plugins registered (for tests that need a real process).

Usage: ``python tests/run_fixture_cli.py run RECIPE --input ...`` behaves like ``ensemble run``
with the ``echo`` components available and the built-ins left out (no model code imported).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fixture_plugins  # noqa: E402
from ensemble_cli.cli.main import main  # noqa: E402
from ensemble_cli.plugins import load_registry, use_registry  # noqa: E402

if __name__ == "__main__":
    with use_registry(load_registry(autoload=False, extra_plugins=[fixture_plugins], builtins=False)):
        main()
