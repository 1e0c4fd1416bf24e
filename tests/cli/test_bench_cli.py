"""``ensemble bench`` end to end on 3 prompts with tiny random-weight models (real tokenizers),
saved to folders and named in a recipe like any local model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from ensemble_cli.cli.main import app
from ensemble_cli.core.pool import ModelPool
from ensemble_cli.evaluation.bench import Bench, member_recipe, systems_for
from ensemble_cli.evaluation.datasets import load_input
from ensemble_cli.recipe import load_recipe

runner = CliRunner()

RECIPE = """\
name: tiny-duo
models:
  - name: llama
    generator: hf
    params: {{model: "{llama}", dtype: float32}}
  - name: gemma
    generator: hf
    params: {{model: "{gemma}", dtype: float32}}
aggregator:
  type: reward
  params: {{segment_tokens: 4, max_rounds: 4}}
scorer: logprob
generation:
  max_tokens: 12
  temperature: 0.0
  seed: 7
"""

ROWS = [
    {"id": "q1", "question": "What is 2+2?", "answer": "2 and 2 make 4.\n#### 4"},
    {"id": "q2", "instruction": "Solve.", "input": "What is 3*3?", "output": "So $\\boxed{9}$."},
    {"id": "q3", "question": "How many legs has a cat?", "answer": "4"},
]


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from tiny_models import tiny_gemma3, tiny_llama  # tests/ is on sys.path (conftest.py)

    root = tmp_path_factory.mktemp("tiny-models")
    dirs = []
    for name, make in (("llama", tiny_llama), ("gemma", tiny_gemma3)):
        model, tok = make(seed=3)
        model.save_pretrained(root / name)
        tok.save_pretrained(root / name)
        dirs.append(root / name)
    return dirs[0], dirs[1]


@pytest.fixture
def setup(tmp_path: Path, model_dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    recipe = tmp_path / "duo.yaml"
    recipe.write_text(RECIPE.format(llama=model_dirs[0], gemma=model_dirs[1]))
    data = tmp_path / "problems.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return recipe, data


def test_member_recipe_keeps_generator_and_generation(setup: tuple[Path, Path]) -> None:
    resolved = load_recipe(setup[0])
    alone = member_recipe(resolved, "gemma")
    assert [m.name for m in alone.models] == ["gemma"]
    assert alone.models[0].config == resolved.models[1].config  # same pool key: loaded once
    assert alone.generation == resolved.generation
    assert alone.aggregator.type == "single" and alone.scorer is None


def test_member_set_changes_only_the_baselines(setup: tuple[Path, Path], tmp_path: Path) -> None:
    resolved = load_recipe(setup[0], overrides=("generation.temperature=0.7",))
    systems = systems_for(resolved, tmp_path / "out", member_overrides=("generation.temperature=0",))
    *members, ensemble = systems
    assert all(m.resolved.generation.temperature == 0 for m in members)
    assert ensemble.resolved.generation.temperature == 0.7
    assert members[0].resolved.models[0].config == resolved.models[0].config  # same pool key


def test_offset_and_limit_pick_a_slice(setup: tuple[Path, Path], tmp_path: Path) -> None:
    recipe, data = setup
    out = tmp_path / "slice"
    args = ["bench", str(recipe), "-i", str(data), "-o", str(out), "--offset", "1", "--limit", "1", "-f", "json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in (out / "ensemble.jsonl").read_text().splitlines()] == ["q2"]
    past_end = runner.invoke(app, ["bench", str(recipe), "-i", str(data), "-o", str(tmp_path / "x"), "--offset", "3"])
    assert past_end.exit_code == 2 and "no problems left after --offset 3" in past_end.output


def test_per_subject_picks_the_first_rows_of_each_file(setup: tuple[Path, Path], tmp_path: Path) -> None:
    recipe, _ = setup
    folder = tmp_path / "math"
    folder.mkdir()
    for subject in ("algebra", "geometry"):
        (folder / f"{subject}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    out = tmp_path / "per-subject"
    args = ["bench", str(recipe), "-i", str(folder), "-o", str(out), "--per-subject", "1", "--limit", "2", "-f", "json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    ids = [json.loads(line)["id"] for line in (out / "ensemble.jsonl").read_text().splitlines()]
    assert ids == ["algebra/q1", "geometry/q1"]
    assert "--per-subject 1" in json.loads((out / "bench.json").read_text())["command"]
    zero = runner.invoke(app, ["bench", str(recipe), "-i", str(folder), "--per-subject", "0"])
    assert zero.exit_code == 2 and "--per-subject" in zero.output


def test_models_are_loaded_once_for_all_systems(setup: tuple[Path, Path], tmp_path: Path) -> None:
    recipe, data = setup
    pool = ModelPool()
    systems = systems_for(load_recipe(recipe), tmp_path / "out")
    bench = Bench(systems, pool=pool)
    bench.load()
    bench.run(load_input(data), batch_size=2)
    assert pool.loads == 2  # two models, three systems
    assert [s.name for s in systems] == ["llama", "gemma", "tiny-duo"]
    for system in systems:
        assert [r["id"] for r in system.records] == ["q1", "q2", "q3"]
        assert all("error" not in r for r in system.records), system.records
        assert system.seconds > 0
    llama, gemma, duo = systems
    assert {a["model"] for r in llama.records for a in r["attribution"]} == {"llama"}
    assert {a["model"] for r in duo.records for a in r["attribution"]} <= {"llama", "gemma"}


def test_bench_end_to_end(setup: tuple[Path, Path], tmp_path: Path) -> None:
    recipe, data = setup
    out = tmp_path / "bench"
    args = ["bench", str(recipe), "--input", str(data), "--output-dir", str(out), "--batch-size", "2"]
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["problems"] == 3 and doc["compared"] == 3
    assert [m["name"] for m in doc["members"]] == ["llama", "gemma"] and doc["ensemble"]["name"] == "tiny-duo"
    assert doc["best_member"] in ("llama", "gemma")
    members_right = [m["correct"] for m in doc["members"]]
    assert max(members_right) <= doc["oracle"]["correct"] <= sum(members_right)
    assert 0.0 <= doc["mcnemar"]["p_value"] <= 1.0
    best = next(m for m in doc["members"] if m["name"] == doc["best_member"])
    assert best["cost"]["tokens_vs_best"] == 1.0 and best["cost"]["time_vs_best"] == 1.0
    assert doc["ensemble"]["cost"]["generated_tokens"] > 0
    assert sum(doc["attributed_share"].values()) == pytest.approx(1.0)
    assert json.loads((out / "bench.json").read_text()) == doc
    assert doc["member_overrides"] == []
    # the command that reproduces it (no --format: it changes nothing on disk), and what was given
    assert doc["command"] == f"ensemble bench {recipe} --input {data} --batch-size 2 --output-dir {out}"
    assert doc["arguments"] == {
        "recipe": str(recipe), "input": str(data), "batch_size": 2, "output_dir": str(out), "fmt": "json"
    }
    # the folder reads back: `bench summary` re-grades it to the same figures, `bench plot` draws it
    summary = runner.invoke(app, ["bench", "summary", str(out), "--format", "json"])
    assert summary.exit_code == 0, summary.output
    row = json.loads(summary.stdout)["results"][0]
    assert row["command"] == doc["command"] and row["oracle"] == doc["oracle"]
    assert row["ensemble"]["correct"] == doc["ensemble"]["correct"] and row["best_member"] == doc["best_member"]
    assert row["mcnemar"]["p_value"] == pytest.approx(doc["mcnemar"]["p_value"], abs=1e-6)
    # bench.json keeps seconds to the millisecond, so the ratio of the rounded times differs in the last digits
    # (tiny models: a batch takes milliseconds, so the rounding moves the ratio by a few percent)
    assert row["time_vs_best"] == pytest.approx(doc["ensemble"]["cost"]["time_vs_best"], rel=5e-2, abs=1e-2)
    plotted = runner.invoke(app, ["bench", "plot", str(out), "-o", str(tmp_path / "frontier.png")])
    assert plotted.exit_code == 0, plotted.output
    with Image.open(tmp_path / "frontier.png") as image:
        assert image.format == "PNG"

    # every system's records re-grade to the same numbers with `ensemble eval`
    for system in [*doc["members"], doc["ensemble"]]:
        path = doc["files"][system["name"]]
        assert len(Path(path).read_text().splitlines()) == 3
        graded = runner.invoke(app, ["eval", path, "--format", "json"])
        assert graded.exit_code == 0, graded.output
        assert json.loads(graded.stdout)["files"][0]["correct"] == system["correct"]

    with Image.open(out / "report.png") as image:
        assert image.format == "PNG"
    assert "<td>tiny-duo (ensemble)</td>" in (out / "report.html").read_text()

    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    table = runner.invoke(app, [*args, "--overwrite", "--limit", "1"], env={"COLUMNS": "160"})
    assert table.exit_code == 0, table.output
    assert "ensemble vs best member" in table.stdout and "tiny-duo (ensemble)" in table.stdout
    assert "oracle " in table.stdout and "exact McNemar p" in table.stdout


def test_bench_needs_exactly_one_source(setup: tuple[Path, Path]) -> None:
    recipe, data = setup
    neither = runner.invoke(app, ["bench", str(recipe)])
    both = runner.invoke(app, ["bench", str(recipe), "--input", str(data), "--dataset", "gsm8k"])
    assert neither.exit_code == both.exit_code == 2
    assert "exactly one of --input FILE and --dataset NAME" in neither.stderr


def json_bench_args(setup: tuple[Path, Path]) -> list[str]:
    """``bench`` on the tiny duo and the 3 problems, batches of 2, JSON on stdout."""
    return ["bench", str(setup[0]), "--input", str(setup[1]), "--batch-size", "2", "--format", "json"]


def bench_json(args: list[str]) -> dict:
    """Run ``ensemble`` with ``args``; it must succeed; its JSON document."""
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_bench_reuses_identical_member_runs_only(setup: tuple[Path, Path], tmp_path: Path) -> None:
    base = json_bench_args(setup)
    before = bench_json([*base, "--output-dir", str(tmp_path / "a")])
    assert before["reused_baselines"] == {}

    again = runner.invoke(app, [*base, "--output-dir", str(tmp_path / "b"), "--baselines", str(tmp_path / "a")])
    assert again.exit_code == 0, again.output
    doc = json.loads(again.stdout)
    assert doc["reused_baselines"] == {
        "llama": str(tmp_path / "a" / "member-llama.jsonl"),
        "gemma": str(tmp_path / "a" / "member-gemma.jsonl"),
    }
    for name in ("llama", "gemma"):  # copied whole, and their earlier time stands
        copied, earlier = (tmp_path / d / f"member-{name}.jsonl" for d in ("b", "a"))
        assert copied.read_text() == earlier.read_text()
        old = next(m for m in before["members"] if m["name"] == name)
        new = next(m for m in doc["members"] if m["name"] == name)
        # the time is the records' batch times (the bench also counted writing them)
        assert new["cost"]["seconds"] == pytest.approx(old["cost"]["seconds"], rel=0.2, abs=0.01)
        assert new["correct"] == old["correct"]
    assert doc["ensemble"]["cost"]["seconds"] > 0  # the ensemble itself ran
    assert "not re-run" in (tmp_path / "b" / "report.html").read_text()

    # a different run is never taken: other generation settings, other batches
    for extra in (["--set", "generation.max_tokens=8"], ["--batch-size", "1"]):
        other = runner.invoke(
            app, [*base, *extra, "--output-dir", str(tmp_path / "c"), "--overwrite", "--baselines", str(tmp_path / "a")]
        )
        assert other.exit_code == 0, other.output
        assert json.loads(other.stdout)["reused_baselines"] == {}, extra

    missing = runner.invoke(app, [*base, "--output-dir", str(tmp_path / "d"), "--baselines", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "--baselines" in missing.stderr


def test_bench_takes_the_first_batches_of_a_partial_member_run(setup: tuple[Path, Path], tmp_path: Path) -> None:
    base = json_bench_args(setup)
    full = bench_json([*base, "--output-dir", str(tmp_path / "a")])

    def outputs(folder: str, name: str) -> list[tuple[str, str]]:
        lines = (tmp_path / folder / f"member-{name}.jsonl").read_text().splitlines()
        return [(r["id"], r["output"]) for r in map(json.loads, lines)]

    whole = {name: outputs("a", name) for name in ("llama", "gemma")}
    # the first problems of a run with a larger --limit are the same run (same batches): taken whole
    fewer = bench_json([*base, "--limit", "2", "-o", str(tmp_path / "two"), "--baselines", str(tmp_path / "a")])
    assert fewer["reused_problems"] == {"llama": 2, "gemma": 2}
    # a bench still writing (or killed mid-write): one whole batch (2 records), and for llama half a line
    for name in ("llama", "gemma"):
        path = tmp_path / "a" / f"member-{name}.jsonl"
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(lines[:2]) + (lines[2][:20] if name == "llama" else ""))
    result = runner.invoke(app, [*base, "--output-dir", str(tmp_path / "b"), "--baselines", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["reused_problems"] == {"llama": 2, "gemma": 2}
    assert "reusing the first 2 of 3 problems" in result.stderr and "running the rest" in result.stderr
    assert "(its first 2 problems)" in (tmp_path / "b" / "report.html").read_text()
    for name in ("llama", "gemma"):  # the rest ran here: the same answers as the uninterrupted run
        assert outputs("b", name) == whole[name]
        old = next(m for m in full["members"] if m["name"] == name)
        new = next(m for m in doc["members"] if m["name"] == name)
        assert new["correct"] == old["correct"] and new["cost"]["seconds"] > 0


def test_bench_resume_finishes_an_interrupted_bench(setup: tuple[Path, Path], tmp_path: Path) -> None:
    base = json_bench_args(setup)
    full = bench_json([*base, "--output-dir", str(tmp_path / "whole")])

    def lines(name: str) -> list[str]:
        return (tmp_path / "whole" / name).read_text().splitlines(keepends=True)

    # what an interruption leaves: one member done, one a batch in with a write cut short, the ensemble
    # part way through its first batch; no bench.json
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "member-llama.jsonl").write_text("".join(lines("member-llama.jsonl")))
    gemma = lines("member-gemma.jsonl")
    (cut / "member-gemma.jsonl").write_text("".join(gemma[:2]) + gemma[2][:15])
    (cut / "ensemble.jsonl").write_text(lines("ensemble.jsonl")[0])

    again = runner.invoke(app, [*base, "--output-dir", str(cut), "--resume"])
    assert again.exit_code == 0, again.output
    assert "gemma: resuming after 2 of 3 problems" in again.stderr
    assert "tiny-duo: resuming after 0 of 3 problems (1 record of an unfinished or failed batch run again)" in (
        again.stderr
    )
    doc = json.loads(again.stdout)
    assert doc["resumed"] == {"llama": 3, "gemma": 2}
    # not a terminal (a bench under nohup or CI): a plain line per finished batch, kept records counted once
    said = again.stderr.splitlines()
    assert [x.split(",")[0] for x in said if x.startswith("gemma: ") and "problems," in x] == [
        "gemma: 2/3 problems", "gemma: 3/3 problems"]
    duo = [x.split(",")[0] for x in said if x.startswith("tiny-duo: ") and "problems," in x]
    assert duo[-1] == "tiny-duo: 3/3 problems"

    def without_timing(path: Path) -> list[dict]:
        return [{k: v for k, v in json.loads(line).items() if k != "timing"} for line in path.read_text().splitlines()]

    for name in ("member-llama.jsonl", "member-gemma.jsonl", "ensemble.jsonl"):  # as if never stopped
        assert without_timing(cut / name) == without_timing(tmp_path / "whole" / name), name
    assert [m["correct"] for m in doc["members"]] == [m["correct"] for m in full["members"]]
    assert doc["ensemble"]["correct"] == full["ensemble"]["correct"]
    assert doc["oracle"] == full["oracle"]
    assert "resumed (records and time of the first problems" in (cut / "report.html").read_text()

    other = runner.invoke(app, [*base, "--output-dir", str(cut), "--resume", "--set", "generation.max_tokens=8"])
    assert other.exit_code == 2
    assert "member-llama.jsonl line 1: another recipe or other generation settings" in other.stderr
    both = runner.invoke(app, [*base, "--output-dir", str(cut), "--resume", "--overwrite"])
    assert both.exit_code == 2 and "contradict" in both.stderr


def test_interrupted_bench_exits_130_and_says_how_to_resume(
    setup: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe, data = setup
    out = tmp_path / "stopped"
    args = ["bench", str(recipe), "--input", str(data), "--output-dir", str(out), "--overwrite"]

    def stopped(self: Bench, rows: object, batch_size: int = 8, on_batch: object = None) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Bench, "run", stopped)
    monkeypatch.setattr("sys.argv", ["ensemble", *args])
    result = runner.invoke(app, args)
    assert result.exit_code == 130, result.output
    assert f"interrupted: the records so far are in {out}/" in result.stderr
    assert f"continue with: ensemble bench {recipe} --input {data} --output-dir {out} --resume\n" in result.stderr
