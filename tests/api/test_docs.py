"""``docs/python.md`` and ``examples/`` run here, on tiny models, so they cannot rot.

The page's Python blocks run in order in one namespace, in a folder whose
``recipes/quickstart.yaml`` is a two-member reward ensemble of tiny random-weight models (the
integration tier runs the real one). Each example script runs as ``__main__`` with that recipe;
the FastAPI example is served through its lifespan with FastAPI's test client.
"""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "python.md"
EXAMPLES = ROOT / "examples"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


@pytest.fixture
def workdir(duo: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    recipe = {**duo, "name": "quickstart"}
    recipe["models"] = [{**duo["models"][0], "name": "smol"}, {**duo["models"][1], "name": "gemma"}]
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "quickstart.yaml").write_text(yaml.safe_dump(recipe))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_python_block_of_the_guide_runs(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) >= 8
    namespace: dict[str, Any] = {"__name__": "docs_python"}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"docs/python.md block {i + 1}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"docs/python.md block {i + 1} failed: {exc!r}\n{block}") from exc
    out = capsys.readouterr().out
    assert "aggregator.params.segment_tokns: unknown field (did you mean segment_tokens?)" in out
    assert "x: the prompt is empty" in out and "did you mean max_tokens?" in out
    assert (workdir / "answers.jsonl").exists()
    assert (workdir / "quickstart.bench" / "bench.json").exists() and (workdir / "quickstart-stats.json").exists()
    assert "ensemble bench recipes/quickstart.yaml --input questions.jsonl --output-dir quickstart.bench" in out


def test_the_guide_names_every_public_name() -> None:
    import ensemble_cli

    text = DOC.read_text()
    missing = [name for name in ensemble_cli.__all__ if f"`{name}`" not in text]
    assert not missing, f"docs/python.md does not describe {missing}"


@pytest.mark.parametrize("script", ["one_question.py", "batch_attribution.py", "streaming.py", "lm_eval_inprocess.py"])
def test_example_scripts_run(script: str, workdir: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", [script, str(workdir / "recipes" / "quickstart.yaml")])
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    out = capsys.readouterr().out
    assert out.strip()
    if script == "batch_attribution.py":
        assert "0: " in out and "round 0" in out
    if script == "lm_eval_inprocess.py":
        assert "exact match: " in out and out.count("(expected ") == 3


def test_the_fastapi_example_answers_through_agenerate(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    monkeypatch.setenv("ENSEMBLE_RECIPE", str(workdir / "recipes" / "quickstart.yaml"))
    module = runpy.run_path(str(EXAMPLES / "fastapi_service.py"), run_name="fastapi_service")
    with TestClient(module["app"]) as client:
        reply = client.post("/ask", json={"question": "2 + 2 = ?", "max_tokens": 6})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["members"] == ["smol", "gemma"]
        assert "".join(a["text"] for a in body["attribution"]) == body["answer"]
    assert module["ensemble"].closed  # the lifespan closed it
