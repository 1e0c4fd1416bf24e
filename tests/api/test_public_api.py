"""The public names are pinned (a change here needs a CHANGELOG line), and importing the package
or the names stays light: no torch or other heavy stack until a model is needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ensemble_cli

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "scipy", "matplotlib", "fastapi", "uvicorn", "httpx", "numpy", "math_verify")

PUBLIC = [
    "Attribution", "Completion", "Ensemble", "EnsembleError", "Example", "RecipeError", "RunReport", "Stream",
    "StreamPiece", "Usage", "UsageError", "__version__", "bench", "calibrate", "evaluate",
]


def test_all_is_pinned_and_every_name_resolves() -> None:
    assert sorted(ensemble_cli.__all__) == sorted(PUBLIC)
    assert set(ensemble_cli._EXPORTS) | {"__version__"} == set(PUBLIC)
    for name in PUBLIC:
        assert getattr(ensemble_cli, name) is not None, name
    assert set(PUBLIC) <= set(dir(ensemble_cli))


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        ensemble_cli.Ensembel  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "Ensembel" in str(exc)
    else:
        raise AssertionError("a misspelled name resolved")


def test_importing_the_package_and_its_names_imports_nothing_heavy() -> None:
    code = (
        "import json, sys\n"
        "import ensemble_cli\n"
        "after_import = sorted({m.split('.')[0] for m in sys.modules})\n"
        "from ensemble_cli import *\n"
        "from ensemble_cli import Ensemble\n"
        "ens = Ensemble.from_recipe(sys.argv[1])\n"  # validating a recipe loads nothing either
        "print(json.dumps([after_import, sorted({m.split('.')[0] for m in sys.modules})]))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT / "recipes" / "quickstart.yaml")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    after_import, after_names = json.loads(proc.stdout.splitlines()[-1])
    assert not set(after_import) & set(HEAVY)
    assert not set(after_names) & set(HEAVY), sorted(set(after_names) & set(HEAVY))
    assert "pydantic" not in after_import  # `import ensemble_cli` itself loads only the version
