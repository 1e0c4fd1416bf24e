"""The "continue with:" line an interrupted ``run`` or ``bench`` prints."""

from __future__ import annotations

import sys

import pytest

from ensemble_cli.console.resume_hint import resume_command


def test_adds_resume_pins_the_output_and_drops_overwrite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["ensemble", "bench", "r.yaml", "--dataset", "gsm8k", "--overwrite"])
    assert resume_command("gsm8k.r bench", ("--output-dir", "-o")) == (
        "ensemble bench r.yaml --dataset gsm8k --resume --output-dir 'gsm8k.r bench'"
    )


@pytest.mark.parametrize("given", [["-o", "out"], ["--output-dir", "out"], ["--output-dir=out"]])
def test_keeps_an_output_already_given(monkeypatch: pytest.MonkeyPatch, given: list[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["ensemble", "bench", "r.yaml", *given, "--resume"])
    assert resume_command("out", ("--output-dir", "-o")) == "ensemble bench r.yaml " + " ".join(given) + " --resume"
