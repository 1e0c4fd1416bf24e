"""lm-eval in-process (``EnsembleLM``, ``ensemble lm-eval``) against ``ensemble serve`` + ``local-completions``.

Local task YAMLs over a small JSON dataset this module writes (no hub): a ``generate_until`` task,
a multiple choice (loglikelihood) and a rolling log-likelihood (perplexity). The same tasks run
once through a live server with lm-eval's ``local-completions`` (its defaults: remote tokenizer,
token-id prompts) and once in this process; per-sample outputs and scores must agree. Lives beside
the server tests to share their tiny models, recipes and live servers.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from live import LiveServer, launch
from typer.testing import CliRunner

from ensemble_cli.errors import UnsupportedError, UsageError

pytestmark = pytest.mark.skipif(importlib.util.find_spec("lm_eval") is None, reason="lm-eval is not installed")

ROWS = [
    {"question": "What is 2 + 2?", "answer": "4", "choices": [" 4", " 7", " 1000"], "label": 0,
     "text": "The quick brown fox jumps over the lazy dog."},
    {"question": "Name a colour of the sky.", "answer": "blue", "choices": [" green", " blue", " loud"], "label": 1,
     "text": "Paris is the capital of France, and Berlin is the capital of Germany."},
    {"question": "How many legs has a cat?", "answer": "4", "choices": [" two", " three", " four"], "label": 2,
     "text": "One, two, three, four, five, six, seven, eight, nine, ten."},
    {"question": "Say hello.", "answer": "hello", "choices": [" hello", " goodbye"], "label": 0,
     "text": "A short line."},
]

GENERATE = """\
task: tiny_qa
dataset_path: json
dataset_kwargs: {{data_files: {{test: "{data}"}}}}
test_split: test
output_type: generate_until
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{answer}}}}"
generation_kwargs:
  until: ["Question:"]
  max_gen_toks: 8
  do_sample: false
metric_list:
  - metric: exact_match
"""

CHOICE = """\
task: tiny_choice
dataset_path: json
dataset_kwargs: {{data_files: {{test: "{data}"}}}}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{label}}}}"
metric_list:
  - metric: acc
"""

ROLLING = """\
task: tiny_rolling
dataset_path: json
dataset_kwargs: {{data_files: {{test: "{data}"}}}}
test_split: test
output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: "{{{{text}}}}"
metric_list:
  - metric: word_perplexity
  - metric: byte_perplexity
"""

ENV = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="module")
def tasks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lm-eval-local-tasks")
    data = folder / "tiny.json"
    data.write_text(json.dumps(ROWS))
    for name, text in (("tiny_qa", GENERATE), ("tiny_choice", CHOICE), ("tiny_rolling", ROLLING)):
        (folder / f"{name}.yaml").write_text(text.format(data=data))
    return folder


@pytest.fixture(scope="module")
def wordy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, LiveServer]]:
    """A two-member ensemble of tiny models that write words (untied embeddings; the shared tiny
    models only write newlines, which would make equal outputs prove little), and its live server."""
    from tiny_models import save_tiny_llamas

    root = tmp_path_factory.mktemp("wordy")
    a, b = save_tiny_llamas(root, tie_word_embeddings=False)
    recipe = root / "wordy.yaml"
    recipe.write_text(json.dumps({
        "name": "wordy",
        "models": [{"name": "first", "generator": "hf", "params": {"model": str(a), "dtype": "float32"}},
                   {"name": "second", "generator": "hf", "params": {"model": str(b), "dtype": "float32"}}],
        "aggregator": {"type": "reward", "params": {"segment_tokens": 4, "max_rounds": 8}},
        "scorer": "logprob",
        "generation": {"max_tokens": 12, "temperature": 0.0, "seed": 7},
    }))
    server = launch(recipe, root / "wordy.log")
    yield recipe, server
    assert server.stop(signal.SIGTERM) == 0, server.output()


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


def served_samples(server: LiveServer, model: str, tasks: Path, task: str, out: Path) -> dict[str, Any]:
    """lm-eval's ``local-completions`` against ``server`` (a subprocess, lm-eval's defaults)."""
    cmd = [sys.executable, "-m", "lm_eval", "run", "--model", "local-completions",
           "--model_args", f"model={model},base_url={server.v1}/completions", "--tasks", task,
           "--include_path", str(tasks), "--output_path", str(out), "--log_samples"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, **ENV})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "Using remote tokenizer" in proc.stdout + proc.stderr  # token ids, tokenized by the server
    (result,) = out.rglob("results_*.json")
    (samples,) = out.rglob(f"samples_{task}_*.jsonl")
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    return {"results": json.loads(result.read_text())["results"][task], "samples": rows}


def in_process(lm: Any, tasks: Path, task: str) -> dict[str, Any]:
    import lm_eval
    from lm_eval.tasks import TaskManager

    res = lm_eval.simple_evaluate(model=lm, tasks=[task], task_manager=TaskManager(include_path=str(tasks)),
                                  log_samples=True)
    return {"results": res["results"][task], "samples": res["samples"][task]}


def by_doc(samples: list[dict[str, Any]]) -> dict[int, Any]:
    return {s["doc_id"]: s["resps"] for s in sorted(samples, key=lambda s: s["doc_id"])}


def numbers(resps: dict[int, Any]) -> list[float]:
    """The log-likelihoods in lm-eval's nested response lists, flattened (booleans dropped)."""
    flat: list[float] = []

    def walk(x: Any) -> None:
        if isinstance(x, list | tuple):
            for y in x:
                walk(y)
        elif isinstance(x, str):  # samples files write tuples as strings: "(-12.3, False)"
            walk(json.loads(x.replace("(", "[").replace(")", "]").replace("False", "false").replace("True", "true")))
        elif isinstance(x, float | int) and not isinstance(x, bool):
            flat.append(float(x))

    for key in sorted(resps):
        walk(resps[key])
    return flat


def test_generate_until_equals_local_completions(wordy: tuple[Path, LiveServer], tasks: Path,
                                                 tmp_path: Path) -> None:
    from ensemble_cli.integrations.lm_eval import EnsembleLM

    recipe, server = wordy
    served = served_samples(server, "wordy", tasks, "tiny_qa", tmp_path / "served")
    lm = EnsembleLM(str(recipe), batch_size=3)  # batched: 4 questions in 2 pipeline batches
    try:
        here = in_process(lm, tasks, "tiny_qa")
    finally:
        lm.close()
    assert len(here["samples"]) == len(ROWS)
    assert by_doc(here["samples"]) == by_doc(served["samples"])
    assert all(r[0][0].strip() for r in by_doc(here["samples"]).values())  # these tiny models write words
    assert here["results"]["exact_match,none"] == served["results"]["exact_match,none"]


def test_loglikelihood_equals_the_server_and_a_named_member(solo: LiveServer, recipes: dict[str, Path],
                                                             tasks: Path, tmp_path: Path) -> None:
    from ensemble_cli.integrations.lm_eval import EnsembleLM

    served = served_samples(solo, "tiny-single", tasks, "tiny_choice", tmp_path / "served")
    single = EnsembleLM(str(recipes["single"]))
    try:
        here = in_process(single, tasks, "tiny_choice")
    finally:
        single.close()
    expected = numbers(by_doc(served["samples"]))
    assert len(expected) == sum(len(r["choices"]) for r in ROWS)
    assert numbers(by_doc(here["samples"])) == pytest.approx(expected, rel=1e-4, abs=1e-4)
    assert here["results"]["acc,none"] == served["results"]["acc,none"]

    # the ensemble recipe's first member is the single recipe's model: member= scores with it alone
    member = EnsembleLM(str(recipes["ensemble"]), member="first")
    try:
        assert numbers(by_doc(in_process(member, tasks, "tiny_choice")["samples"])) == pytest.approx(
            expected, rel=1e-4, abs=1e-4)
    finally:
        member.close()


def test_loglikelihood_rolling_equals_the_server(solo: LiveServer, recipes: dict[str, Path], tasks: Path,
                                                 tmp_path: Path) -> None:
    from ensemble_cli.integrations.lm_eval import EnsembleLM

    served = served_samples(solo, "tiny-single", tasks, "tiny_rolling", tmp_path / "served")
    lm = EnsembleLM(str(recipes["single"]))
    try:
        here = in_process(lm, tasks, "tiny_rolling")
    finally:
        lm.close()
    assert numbers(by_doc(here["samples"])) == pytest.approx(numbers(by_doc(served["samples"])), rel=1e-4)
    assert here["results"]["word_perplexity,none"] == pytest.approx(served["results"]["word_perplexity,none"],
                                                                    rel=1e-4)


def test_an_ensemble_refuses_loglikelihood_as_the_server_does(duo: LiveServer, recipes: dict[str, Path]) -> None:
    from lm_eval.api.instance import Instance

    from ensemble_cli.integrations.lm_eval import EnsembleLM

    reply = httpx.post(f"{duo.v1}/completions", json={"model": "tiny-duo", "prompt": "Hi there", "echo": True,
                                                       "logprobs": 1, "max_tokens": 1}, timeout=60)
    assert reply.status_code == 501
    server_says = reply.json()["error"]["message"]
    lm = EnsembleLM(str(recipes["ensemble"]))
    try:
        with pytest.raises(UnsupportedError) as info:
            lm.loglikelihood([Instance("loglikelihood", {}, ("Question:", " 4"), 0)])
    finally:
        lm.close()
    said = str(info.value)
    head = "loglikelihood requests need one model's distribution, and 'tiny-duo' ensembles 2 members"
    assert said.startswith(head) and server_says.startswith(head)
    assert "member=" in said and "'first', 'second'" in said


def test_the_request_id_is_the_servers(recipes: dict[str, Path]) -> None:
    from ensemble_cli.integrations.lm_eval import request_id
    from ensemble_cli.server.service import example_id

    messages = [{"role": "user", "content": "Question: 2 + 2?\nAnswer:"}]
    assert request_id(messages) == example_id(0, 0, messages)


def test_bad_arguments_are_named(recipes: dict[str, Path]) -> None:
    from ensemble_cli.integrations.lm_eval import EnsembleLM

    with pytest.raises(UsageError, match=r"member 'third' is not in recipe 'tiny-duo' \(members: 'first', 'second'\)"):
        EnsembleLM(str(recipes["ensemble"]), member="third")
    with pytest.raises(UsageError, match="unknown argument.*pretrained"):
        EnsembleLM(str(recipes["ensemble"]), pretrained="gpt2")
    with pytest.raises(UsageError, match="batch_size must be a number or 'auto'"):
        EnsembleLM(str(recipes["ensemble"]), batch_size="many")


def test_without_the_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "ensemble_cli.integrations.lm_eval", raising=False)
    monkeypatch.setitem(sys.modules, "lm_eval", None)  # import lm_eval -> ModuleNotFoundError
    with pytest.raises(UsageError, match=r"needs the 'lm-eval' extra .*pip install 'ensemble-cli\[lm-eval\]'"):
        importlib.import_module("ensemble_cli.integrations.lm_eval")


def test_ensemble_lm_eval_cli_runs_end_to_end(recipes: dict[str, Path], tasks: Path, tmp_path: Path) -> None:
    from ensemble_cli.cli.main import app

    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["lm-eval", str(recipes["ensemble"]), "--tasks", "tiny_qa", "--include_path",
                                      str(tasks), "--limit", "2", "--batch_size", "2", "--output_path", str(out),
                                      "--set", "generation.max_tokens=4"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    (path,) = out.rglob("results_*.json")
    document = json.loads(path.read_text())
    assert document["n-samples"]["tiny_qa"]["effective"] == 2
    assert "exact_match,none" in document["results"]["tiny_qa"]
    assert str(document["config"]["batch_size"]) == "2"  # the user's --batch_size wins over our default 8
    model_args = document["config"]["model_args"]
    assert model_args["recipe"] == str(recipes["ensemble"]) and model_args["overrides"] == ["generation.max_tokens=4"]


def test_ensemble_lm_eval_cli_refuses_before_loading(tmp_path: Path, recipes: dict[str, Path]) -> None:
    from ensemble_cli.cli.main import app

    bad = tmp_path / "bad.yaml"
    bad.write_text(recipes["ensemble"].read_text().replace("aggregator:\n  type: reward", "aggregator:\n  type: rewrd"))
    result = CliRunner().invoke(app, ["lm-eval", str(bad), "--tasks", "tiny_qa"])
    assert result.exit_code == 2 and "did you mean 'reward'" in result.output
    result = CliRunner().invoke(app, ["lm-eval", str(recipes["ensemble"]), "--model", "hf", "--tasks", "tiny_qa"])
    assert result.exit_code == 2 and "sets --model itself" in result.output
