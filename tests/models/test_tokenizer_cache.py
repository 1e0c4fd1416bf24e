"""The tokenizer pickle cache: only for folders inside our cache dir, and never trusted blindly."""

from __future__ import annotations

from ensemble_cli.models import tokenizer_cache
from tiny_models import real_tokenizer

TEXT = "Hello world ’é 🌊\n\nUser: x"


def _saved(tmp_path, where: str):
    folder = tmp_path / where / "smol"
    real_tokenizer("smollm2-135m-instruct").save_pretrained(folder)
    return folder


def test_converted_folder_gets_a_pickle_that_reloads_identically(tmp_path, monkeypatch):
    monkeypatch.setenv("ENSEMBLE_CACHE_DIR", str(tmp_path / "cache"))
    folder = _saved(tmp_path, "cache/models")
    first = tokenizer_cache.load_tokenizer(str(folder))
    pickles = list(folder.glob(".tokenizer-*.pkl"))
    assert len(pickles) == 1
    second = tokenizer_cache.load_tokenizer(str(folder))
    assert second.encode(TEXT) == first.encode(TEXT)
    assert second.chat_template == first.chat_template


def test_folders_outside_the_cache_are_loaded_normally(tmp_path, monkeypatch):
    monkeypatch.setenv("ENSEMBLE_CACHE_DIR", str(tmp_path / "cache"))
    folder = _saved(tmp_path, "elsewhere")
    tokenizer_cache.load_tokenizer(str(folder))
    assert not list(folder.glob(".tokenizer-*.pkl"))


def test_a_broken_pickle_falls_back_and_is_rewritten(tmp_path, monkeypatch):
    monkeypatch.setenv("ENSEMBLE_CACHE_DIR", str(tmp_path / "cache"))
    folder = _saved(tmp_path, "cache/models")
    tokenizer_cache._pickle_path(folder).write_bytes(b"not a pickle")
    tok = tokenizer_cache.load_tokenizer(str(folder))
    assert tok.decode(tok.encode(TEXT)) == TEXT
    assert tokenizer_cache._pickle_path(folder).stat().st_size > 1000
