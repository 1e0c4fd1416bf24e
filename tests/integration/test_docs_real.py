"""Integration tier of ``tests/api/test_docs.py``: ``docs/python.md`` and ``examples/`` on the real
default models (SmolLM2-135M-Instruct + Gemma-3-270M, the shipped ``recipes/quickstart.yaml``).

The unit tier proves the code paths on tiny random models; this tier proves the page tells the
truth about the recipe it names: the members it prints, the files it writes, the answers it
attributes. To keep CI time modest the quickstart is run as written except for its generation
budget (``max_tokens`` 8, one 8-token segment); calls that pass ``max_tokens`` themselves keep theirs.
"""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "python.md"
EXAMPLES = ROOT / "examples"
CHEAP = {"max_tokens": 8, "segment_tokens": 8}


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder whose ``recipes/quickstart.yaml`` is the shipped one on a smaller budget."""
    recipe = yaml.safe_load((ROOT / "recipes" / "quickstart.yaml").read_text(encoding="utf-8"))
    recipe["generation"]["max_tokens"] = CHEAP["max_tokens"]
    recipe["aggregator"]["params"]["segment_tokens"] = CHEAP["segment_tokens"]
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "quickstart.yaml").write_text(yaml.safe_dump(recipe))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _check_completion(completion: Any, limit: int) -> None:
    """What the page promises about any answer: text made of attributed pieces by real members."""
    assert completion.text.strip(), completion
    assert "".join(p.text for p in completion.attribution) == completion.text
    assert {p.model for p in completion.attribution} <= {"smol", "gemma"}
    assert completion.selected_models == ["smol", "gemma"]
    assert completion.finish_reason in ("stop", "length")
    assert 0 < completion.usage.completion_tokens <= limit


def test_every_python_block_of_the_guide_runs_on_the_real_models(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace: dict[str, Any] = {"__name__": "docs_python"}
    for i, block in enumerate(python_blocks(DOC.read_text())):
        try:
            exec(compile(block, f"docs/python.md block {i + 1}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"docs/python.md block {i + 1} failed: {exc!r}\n{block}") from exc
    out = capsys.readouterr().out
    assert "aggregator.params.segment_tokns: unknown field (did you mean segment_tokens?)" in out
    assert "quickstart ['smol', 'gemma']" in out
    _check_completion(namespace["answer"], 16)
    _check_completion(namespace["stream"].completion, 32)  # block 1's override: generation.max_tokens=32
    assert namespace["record"]["output"] == namespace["answer"].text
    assert namespace["report"].ok == 3 and namespace["report"].exit_code == 0
    assert namespace["graded"]["total"] == 3
    bench = namespace["result"]
    assert bench["problems"] == 3 and len(bench["members"]) == 2 and bench["ensemble"]["name"] == "quickstart"
    assert set(namespace["stats"]["models"]) == {"smol", "gemma"}
    assert 0.0 <= namespace["results"]["results"]["arith"]["exact_match,none"] <= 1.0
    assert namespace["ens"].closed and namespace["other"].closed


@pytest.mark.parametrize("script", ["one_question.py", "batch_attribution.py", "streaming.py", "lm_eval_inprocess.py"])
def test_example_scripts_run_on_the_real_models(script: str, workdir: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", [script, str(workdir / "recipes" / "quickstart.yaml")])
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    out = capsys.readouterr().out
    assert out.strip()
    if script == "batch_attribution.py":
        assert out.count("round 0") >= 3  # every question has a first round, written by a member
        assert re.search(r"^\s+(smol|gemma) round 0: ", out, flags=re.M)
    if script == "streaming.py":
        assert re.search(r"^written by: \[('(smol|gemma)'(, )?)+\]$", out, flags=re.M)
    if script == "lm_eval_inprocess.py":
        assert "exact match: " in out and out.count("(expected ") == 3


def test_the_fastapi_example_answers_on_the_real_models(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    monkeypatch.setenv("ENSEMBLE_RECIPE", str(workdir / "recipes" / "quickstart.yaml"))
    module = runpy.run_path(str(EXAMPLES / "fastapi_service.py"), run_name="fastapi_service")
    with TestClient(module["app"]) as client:
        reply = client.post("/ask", json={"question": "2 + 2 = ?", "max_tokens": 8})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["answer"].strip() and body["members"] == ["smol", "gemma"]
        assert "".join(a["text"] for a in body["attribution"]) == body["answer"]
    assert module["ensemble"].closed
