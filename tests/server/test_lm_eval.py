"""lm-evaluation-harness against a live server, with lm-eval's default arguments where possible.

``local-completions`` probes ``/tokenizer_info`` and ``/tokenize`` and, finding them, uses the
server's own tokenizer and sends token ids (its default); ``local-chat-completions`` sends
messages. The tasks are local YAML files over a slice of GSM8K test (no hub): generation, and a
three-way multiple choice on the same questions for loglikelihood.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from live import LiveServer

GSM8K = Path("/work/shared/data/gsm8k/test.json")

GENERATE = """\
task: gsm8k_slice
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "Question: {{{{input}}}}\\nAnswer:"
doc_to_target: "{{{{output}}}}"
generation_kwargs:
  until: ["Question:", "\\n\\n"]
  max_gen_toks: 8
  do_sample: false
metric_list:
  - metric: exact_match
"""

CHOICE = """\
task: gsm8k_choice
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{label}}}}"
metric_list:
  - metric: acc
"""

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo.jsonl"

pytestmark = pytest.mark.skipif(importlib.util.find_spec("lm_eval") is None, reason="lm-eval is not installed")


def gsm8k_rows(n: int) -> list[dict[str, str]]:
    """A slice of GSM8K test (the shared copy), else the repo's demo questions in the same shape."""
    if GSM8K.exists():
        return json.loads(GSM8K.read_text())[:n]
    demo = [json.loads(line) for line in DEMO.read_text().splitlines() if line.strip()]
    return [{"instruction": "", "input": d["prompt"], "output": f"\\boxed{{{d['answer']}}}"} for d in demo[:n]]


@pytest.fixture(scope="module")
def tasks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lm-eval-tasks")
    rows = gsm8k_rows(8)
    (folder / "gsm8k.json").write_text(json.dumps(rows))
    choice_rows = []
    for row in rows:
        answer = row["output"].rsplit("{", 1)[-1].rstrip("}").strip()
        choice_rows.append({"question": row["input"], "choices": [f" {answer}", " 7", " 1000"], "label": 0})
    (folder / "choice.json").write_text(json.dumps(choice_rows))
    (folder / "gsm8k_slice.yaml").write_text(GENERATE.format(data=folder / "gsm8k.json"))
    (folder / "gsm8k_choice.yaml").write_text(CHOICE.format(data=folder / "choice.json"))
    return folder


def lm_eval(tasks: Path, out: Path, model: str, model_args: str, task: str, *extra: str) -> dict:
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "lm_eval", "run", "--model", model, "--model_args", model_args,
           "--tasks", task, "--include_path", str(tasks), "--limit", "4", "--output_path", str(out), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    if model == "local-completions":  # lm-eval found the tokenizer endpoints and uses them
        assert "Using remote tokenizer" in proc.stdout + proc.stderr
    (result,) = out.rglob("results_*.json")
    return json.loads(result.read_text())


def served(server: LiveServer) -> int:
    return int(httpx.get(f"{server.base}/status").json()["requests_served"])


def test_local_completions_generate_until(duo: LiveServer, tasks: Path, tmp_path: Path) -> None:
    before = served(duo)
    res = lm_eval(tasks, tmp_path, "local-completions",
                  f"model=tiny-duo,base_url={duo.v1}/completions", "gsm8k_slice")
    metrics = res["results"]["gsm8k_slice"]
    assert "exact_match,none" in metrics and res["n-samples"]["gsm8k_slice"]["effective"] == 4
    assert served(duo) - before >= 4


def test_local_chat_completions(duo: LiveServer, tasks: Path, tmp_path: Path) -> None:
    before = served(duo)
    res = lm_eval(tasks, tmp_path, "local-chat-completions",
                  f"model=tiny-duo,base_url={duo.v1}/chat/completions", "gsm8k_slice", "--apply_chat_template")
    assert "exact_match,none" in res["results"]["gsm8k_slice"]
    assert served(duo) - before >= 4


def test_loglikelihood_against_a_single_model_recipe(solo: LiveServer, tasks: Path, tmp_path: Path) -> None:
    before = served(solo)
    res = lm_eval(tasks, tmp_path, "local-completions",
                  f"model=tiny-single,base_url={solo.v1}/completions", "gsm8k_choice")
    acc = res["results"]["gsm8k_choice"]["acc,none"]
    assert 0.0 <= acc <= 1.0 and res["n-samples"]["gsm8k_choice"]["effective"] == 4
    assert served(solo) - before >= 12  # 4 questions × 3 choices, scored by the server
