"""``ensemble models prepare``: all conversions at once, with the same plain status lines as
``ensemble run`` when stderr is not a terminal (stand-in aliases: nothing real is converted)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ensemble_cli.cli.main import app
from ensemble_cli.models import aliases
from fake_aliases import FakeAlias


def test_prepare_converts_side_by_side_with_status_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for item in (FakeAlias.make("one", tmp_path, peer="two"), FakeAlias.make("two", tmp_path, peer="one")):
        monkeypatch.setitem(aliases.ALIASES, item.name, item)
    result = CliRunner().invoke(app, ["models", "prepare", "one", "two"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "\r" not in out and "\x1b" not in out
    lines = out.splitlines()
    for name in ("one", "two"):
        assert f"converting {name} (1 kB GGUF, once per machine): starting a worker…" in lines
        assert f"converting {name} (1 kB GGUF, once per machine): waiting for its peer…" in lines
        assert any(line.startswith(f"converted {name} in ") and line.endswith("(2 kB in the cache)") for line in lines)
        assert any(line.startswith(f"{name}: ready in ") and line.endswith(str(tmp_path / name)) for line in lines)
