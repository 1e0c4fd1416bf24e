"""The commands that only inspect (help, version, recipes, plugins) must not import the heavy stack.

Each group of commands runs in a fresh interpreter through the console script's ``main()`` (plugin
commands included), and the heavy top-level packages found in ``sys.modules`` afterwards are
attributed to the command that first pulled them in. A fresh process is needed because the test
process itself has torch loaded long ago.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "recipes"

#: What an inspecting command must never import (each costs from 0.1 s to several seconds).
HEAVY = ("torch", "transformers", "scipy", "matplotlib", "fastapi", "uvicorn", "httpx", "numpy", "math_verify",
         "lm_eval")

# Runs each argv in turn (the first through main(), as the console script does; later ones through
# the same app, so plugin commands are not registered twice) and writes, per command, its exit code
# and the heavy packages it imported.
DRIVER = r"""
import json, sys
commands, heavy, out = json.loads(sys.argv[1]), set(json.loads(sys.argv[2])), sys.argv[3]
report = []
for i, argv in enumerate(commands):
    before = {m.split(".")[0] for m in sys.modules}
    sys.argv = ["ensemble", *argv]
    try:
        if i == 0:  # importing the app (which mounts every command module) counts for the first command
            from ensemble_cli.cli.main import app, main
            main()
        else:
            app(args=argv, prog_name="ensemble")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    now = {m.split(".")[0] for m in sys.modules}
    report.append({"argv": argv, "code": code, "heavy": sorted((now - before) & heavy)})
with open(out, "w") as fh:
    json.dump(report, fh)
"""


def _subcommand_helps() -> list[list[str]]:
    """``<path> --help`` for every built-in command and sub-command."""
    from ensemble_cli.cli.main import app

    helps: list[list[str]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        helps.append([*path, "--help"])
        for name, sub in getattr(cmd, "commands", {}).items():  # a group: its sub-commands
            walk(sub, [*path, name])

    root = typer.main.get_command(app)
    for name, sub in root.commands.items():  # type: ignore[attr-defined]
        walk(sub, [name])
    return helps


def _run(commands: list[list[str]], tmp_path: Path) -> list[dict[str, object]]:
    out = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(commands), json.dumps(HEAVY), str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert out.exists(), f"driver failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    return json.loads(out.read_text())


GROUPS = {
    "help": [["--help"]],
    "version": [["--version"]],
    "plugins": [["plugins"], ["plugins", "--json"]],
    "recipes-list": [["recipes", "list", "--dir", str(RECIPES)]],
    # every shipped recipe: each built-in generator, scorer, selector and aggregator is resolved
    "recipes-validate": [["recipes", "validate", str(p)] for p in sorted(RECIPES.glob("*.yaml"))],
}


@pytest.mark.parametrize("group", [*GROUPS, "subcommand-help"])
def test_inspecting_commands_import_nothing_heavy(group: str, tmp_path: Path) -> None:
    commands = _subcommand_helps() if group == "subcommand-help" else GROUPS[group]
    report = _run(commands, tmp_path)
    assert [r["argv"] for r in report] == commands
    failed = [f"ensemble {' '.join(r['argv'])} -> exit {r['code']}" for r in report if r["code"] != 0]
    assert not failed, "commands failed, so their imports prove nothing:\n" + "\n".join(failed)
    heavy = [f"ensemble {' '.join(r['argv'])} imported {', '.join(r['heavy'])}" for r in report if r["heavy"]]
    assert not heavy, "\n".join(heavy)

