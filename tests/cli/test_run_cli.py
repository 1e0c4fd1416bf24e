"""``ensemble run`` end to end with fixture components (no models): every row accounted for,
stdout kept clean, bad rows isolated, exit codes, and resume after a hard kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import fixture_plugins  # tests/ is on sys.path (conftest.py)
from ensemble_cli.cli.main import app
from ensemble_cli.plugins import load_registry, use_registry

TESTS = Path(__file__).resolve().parents[1]

RECIPE = """\
name: echo
models:
  - name: a
    generator: echo-gen
selector: echo-all
aggregator:
  type: echo
  params: {delay: 0.0}
"""

PROMPTS = ["one", "two", "three", "four", "five"]


@pytest.fixture(autouse=True)
def fixture_registry() -> Iterator[None]:
    with use_registry(load_registry(autoload=False, extra_plugins=[fixture_plugins], builtins=False)):
        yield


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "echo.yaml"
    path.write_text(RECIPE)
    return path


def jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def invoke(*args: str | Path):  # noqa: ANN201 - click's Result
    return CliRunner().invoke(app, ["run", *map(str, args)])


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return jsonl(tmp_path / "data.jsonl", [{"id": f"r{i}", "prompt": p} for i, p in enumerate(PROMPTS)])


def test_jsonl_input_to_file(tmp_path: Path, recipe: Path, data: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = invoke(recipe, "--input", data, "--output", out, "--batch-size", "2")
    assert result.exit_code == 0, result.output
    recs = records(out)
    assert [r["id"] for r in recs] == ["r0", "r1", "r2", "r3", "r4"]
    first = recs[0]
    assert first["prompt"] == "one" and first["output"] == "ONE" and "label" not in first
    assert first["finish_reason"] == "stop"
    assert first["selected_models"] == ["a"]
    assert first["attribution"] == [{"model": "a", "round": 0, "text": "ONE", "tokens": 1, "score": 1.0}]
    assert first["usage"] == {"prompt_tokens": 1, "completion_tokens": 1, "generated_tokens": 0}
    assert first["timing"]["batch_size"] == 2 and "started_at" in first["timing"]
    assert first["recipe"]["name"] == "echo" and len(first["recipe_hash"]) == 16
    assert "examples ok" in result.stderr and f"output: {out}\n" in result.stderr
    assert result.stdout == ""


def test_json_list_input_with_labels(tmp_path: Path, recipe: Path) -> None:
    data = tmp_path / "data.json"
    data.write_text(json.dumps([{"question": "a b", "answer": 3}, {"prompt": "c", "label": "x"}], indent=2))
    out = tmp_path / "out.jsonl"
    assert invoke(recipe, "-i", data, "-o", out).exit_code == 0
    recs = records(out)
    assert [(r["id"], r["output"], r["label"]) for r in recs] == [("0", "A B", "3"), ("1", "C", "x")]


def test_stdout_is_clean_jsonl(recipe: Path, data: Path) -> None:
    result = invoke(recipe, "--input", data, "--output", "-")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["r0", "r1", "r2", "r3", "r4"]
    assert "examples ok" in result.stderr


def test_stdin_input(recipe: Path) -> None:
    result = CliRunner().invoke(
        app, ["run", str(recipe), "-i", "-", "-o", "-"], input='{"prompt": "hi"}\n{"prompt": "yo"}\n'
    )
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["output"] for line in result.stdout.splitlines()] == ["HI", "YO"]


def test_default_output_path(
    tmp_path: Path, recipe: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = invoke(recipe, "-i", data)
    assert result.exit_code == 0, result.output
    assert len(records(work / "data.echo.jsonl")) == 5
    assert "output: data.echo.jsonl" in result.stderr


def test_invalid_json_line_is_an_error_record(tmp_path: Path, recipe: Path) -> None:
    data = jsonl(tmp_path / "d.jsonl", [{"prompt": "a"}, '{"prompt": "b" "oops": 1}', {"prompt": "c"}])
    out = tmp_path / "out.jsonl"
    result = invoke(recipe, "-i", data, "-o", out)
    assert result.exit_code == 1
    recs = {r["id"]: r for r in records(out)}
    assert recs["0"]["output"] == "A" and recs["2"]["output"] == "C"
    assert recs["1"]["error"] == "line 2 (row index 1): invalid JSON: Expecting ',' delimiter at column 16"
    assert recs["1"]["line"] == 2 and "recipe_hash" in recs["1"] and "output" not in recs["1"]
    assert "line 2 (row index 1): invalid JSON" in result.stderr


def test_missing_prompt_field_is_an_error_record(tmp_path: Path, recipe: Path) -> None:
    data = jsonl(tmp_path / "d.jsonl", [{"id": "x", "text": "a"}, {"id": "y", "prompt": "b"}])
    out = tmp_path / "out.jsonl"
    assert invoke(recipe, "-i", data, "-o", out).exit_code == 1
    recs = {r["id"]: r for r in records(out)}
    assert "no prompt field" in recs["x"]["error"] and "'text'" in recs["x"]["error"]
    assert recs["y"]["output"] == "B"


def test_failing_row_is_isolated_from_its_batch(tmp_path: Path, recipe: Path) -> None:
    data = jsonl(tmp_path / "d.jsonl", [{"prompt": p} for p in ["a", "b BAD", "c", "d"]])
    out = tmp_path / "out.jsonl"
    result = invoke(
        recipe, "-i", data, "-o", out, "--batch-size", "4", "--set", "aggregator.params.fail_on=BAD"
    )
    assert result.exit_code == 1
    recs = {r["id"]: r for r in records(out)}
    assert len(recs) == 4
    assert "ValueError: refusing 'b BAD'" in recs["1"]["error"] and recs["1"]["prompt"] == "b BAD"
    assert [recs[i]["output"] for i in ("0", "2", "3")] == ["A", "C", "D"]
    assert all(recs[i]["timing"]["batch_size"] == 1 for i in ("0", "2", "3"))  # retried one by one


def test_duplicate_ids(tmp_path: Path, recipe: Path) -> None:
    data = jsonl(tmp_path / "d.jsonl", [{"id": "x", "prompt": "a"}, {"id": "x", "prompt": "b"}])
    out = tmp_path / "out.jsonl"
    assert invoke(recipe, "-i", data, "-o", out).exit_code == 1
    recs = records(out)  # the input error is written at once, before the batch holding "a" runs
    assert [r.get("output") for r in recs if "error" not in r] == ["A"]
    assert [r["error"] for r in recs if "error" in r] == ["line 2: duplicate id 'x' (first seen at line 1)"]


def test_limit(tmp_path: Path, recipe: Path, data: Path) -> None:
    out = tmp_path / "out.jsonl"
    assert invoke(recipe, "-i", data, "-o", out, "--limit", "3").exit_code == 0
    assert [r["id"] for r in records(out)] == ["r0", "r1", "r2"]


def test_field_mapping_flags(tmp_path: Path, recipe: Path) -> None:
    data = jsonl(tmp_path / "d.jsonl", [{"key": "k1", "q": "hello", "gold": "HELLO"}])
    out = tmp_path / "out.jsonl"
    args = ["--prompt-field", "q", "--label-field", "gold", "--id-field", "key"]
    assert invoke(recipe, "-i", data, "-o", out, *args).exit_code == 0
    (rec,) = records(out)
    assert (rec["id"], rec["prompt"], rec["label"], rec["output"]) == ("k1", "hello", "HELLO", "HELLO")
    chat = jsonl(tmp_path / "c.jsonl", [{"conv": [{"role": "user", "content": "hey"}]}])
    assert invoke(recipe, "-i", chat, "-o", out, "--messages-field", "conv", "--overwrite").exit_code == 0
    assert records(out)[0]["output"] == "HEY"


def test_empty_input_is_a_usage_error(tmp_path: Path, recipe: Path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text("")
    result = invoke(recipe, "-i", data, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 2
    assert f"input file {data} is empty" in result.stderr.replace("\n", "")


def test_unknown_component_is_a_recipe_error(tmp_path: Path, data: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(RECIPE.replace("type: echo", "type: ech"))
    result = invoke(bad, "-i", data, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 2
    assert "did you mean 'echo'" in result.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_existing_output_needs_resume_or_overwrite(tmp_path: Path, recipe: Path, data: Path) -> None:
    out = tmp_path / "out.jsonl"
    assert invoke(recipe, "-i", data, "-o", out, "--limit", "2").exit_code == 0
    refused = invoke(recipe, "-i", data, "-o", out)
    assert refused.exit_code == 2 and "--resume" in refused.stderr
    assert invoke(recipe, "-i", data, "-o", out, "--overwrite").exit_code == 0
    assert len(records(out)) == 5
    assert invoke(recipe, "-i", data, "-o", "-", "--resume").exit_code == 2


def test_output_must_not_be_the_input_and_must_be_writable(tmp_path: Path, recipe: Path, data: Path) -> None:
    same = invoke(recipe, "-i", data, "-o", data, "--overwrite")
    assert same.exit_code == 2 and "is the input file" in same.stderr
    blocker = tmp_path / "file"
    blocker.write_text("")
    unwritable = invoke(recipe, "-i", data, "-o", blocker / "out.jsonl")
    assert unwritable.exit_code == 2 and "cannot" in unwritable.stderr


def test_resume_skips_done_rows_and_retries_failed_ones(tmp_path: Path, recipe: Path, data: Path) -> None:
    out = tmp_path / "out.jsonl"
    first = invoke(recipe, "-i", data, "-o", out, "--set", "aggregator.params.fail_on=three")
    assert first.exit_code == 1
    assert [("error" in r) for r in records(out)] == [False, False, True, False, False]
    second = invoke(recipe, "-i", data, "-o", out, "--resume")
    assert second.exit_code == 0, second.output
    recs = records(out)
    assert len(recs) == 6 and recs[-1]["id"] == "r2" and recs[-1]["output"] == "THREE"
    third = invoke(recipe, "-i", data, "-o", out, "--resume")
    assert third.exit_code == 0 and "nothing to do" in third.stderr
    assert len(records(out)) == 6


def test_resume_does_not_repeat_input_errors(tmp_path: Path, recipe: Path) -> None:
    data = jsonl(tmp_path / "d.jsonl", [{"prompt": "a"}, "not json", {"prompt": "c"}])
    out = tmp_path / "out.jsonl"
    assert invoke(recipe, "-i", data, "-o", out).exit_code == 1
    result = invoke(recipe, "-i", data, "-o", out, "--resume")
    assert result.exit_code == 1  # the bad row is still bad, even though it was not re-reported
    assert "nothing to do" in result.stderr and "input errors (earlier)" in result.stderr
    assert len(records(out)) == 3


# -- real processes: kill and interrupt ----------------------------------------------------------


def _ctrl_c_as_at_a_terminal() -> None:
    """A job a non-interactive shell starts in the background (``cmd &``: CI under ``nohup``, say)
    inherits SIGINT *ignored*, and Python then installs no KeyboardInterrupt handler, so the child
    would never see our Ctrl-C; the user's terminal delivers it, so the test restores that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def launch(*args: str | Path) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, str(TESTS / "run_fixture_cli.py"), "run", *map(str, args)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=_ctrl_c_as_at_a_terminal)


def wait_for_records(out: Path, count: int, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.exists() and out.read_text().count("\n") >= count:
            return
        if proc.poll() is not None:
            pytest.fail(f"run ended early ({proc.returncode}): {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no {count} records after {timeout} s")


def test_resume_after_kill(tmp_path: Path, recipe: Path) -> None:
    ids = [f"q{i:02d}" for i in range(12)]
    data = jsonl(tmp_path / "d.jsonl", [{"id": i, "prompt": f"prompt {i}"} for i in ids])
    out = tmp_path / "out.jsonl"
    slow = ["--set", "aggregator.params.delay=0.25", "--batch-size", "2"]
    proc = launch(recipe, "-i", data, "-o", out, *slow)
    wait_for_records(out, 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    written = records(out)  # every line written before the kill is complete
    assert 3 <= len(written) < len(ids)
    with out.open("a") as f:  # what a kill in the middle of a write would leave behind
        f.write('{"id": "q11", "output": "PRO')

    result = subprocess.run(
        [sys.executable, str(TESTS / "run_fixture_cli.py"), "run", str(recipe), "-i", str(data),
         "-o", str(out), "--resume"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "removed an unfinished last line" in result.stderr
    final = records(out)
    assert sorted(r["id"] for r in final) == ids  # each id exactly once
    assert all(r["output"] == r["prompt"].upper() for r in final)
    assert result.stdout == ""


def test_interrupt_exits_130_and_says_how_to_resume(tmp_path: Path, recipe: Path) -> None:
    data = jsonl(tmp_path / "d.jsonl", [{"prompt": f"p{i}"} for i in range(20)])
    out = tmp_path / "out.jsonl"
    proc = launch(recipe, "-i", data, "-o", out, "--set", "aggregator.params.delay=0.25", "--batch-size", "1")
    wait_for_records(out, 2, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    written = records(out)
    assert f"{len(written)} records written" in stderr
    assert "--resume" in stderr


def test_deterministic_is_batch_invariant_in_the_recipe_and_its_hash(tmp_path: Path, recipe: Path, data: Path) -> None:
    plain, flag, spelled = (tmp_path / f"{n}.jsonl" for n in ("plain", "flag", "spelled"))
    assert invoke(recipe, "-i", data, "-o", plain).exit_code == 0
    assert invoke(recipe, "-i", data, "-o", flag, "--deterministic").exit_code == 0
    assert invoke(recipe, "-i", data, "-o", spelled, "--set", "generation.batch_invariant=true").exit_code == 0
    p, f, s = (records(x)[0] for x in (plain, flag, spelled))
    assert f["recipe"]["generation"]["batch_invariant"] is True and "batch_invariant" not in p["recipe"]["generation"]
    assert f["recipe_hash"] == s["recipe_hash"] != p["recipe_hash"]
