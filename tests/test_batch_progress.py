"""``BatchRunner(on_progress=...)``: round reports reach the caller keyed by the example's id, before
the batch's records, and a pipeline is only asked for them when someone listens."""

from __future__ import annotations

from pathlib import Path

from ensemble_cli.batch import BatchRunner
from ensemble_cli.core.events import RowProgress
from ensemble_cli.core.types import Example, Result
from ensemble_cli.io.writers import ResultWriter


class RoundsPipeline:
    """Two rounds per example, reported through ``on_progress`` with the batch index."""

    def run_batch(self, examples: list[Example], *, on_progress=None) -> list[Result]:  # noqa: ANN001
        for rnd in (1, 2):
            for i in range(len(examples)):
                if on_progress is not None:
                    on_progress(i, RowProgress(tokens=3 * rnd, rounds=rnd))
        return [Result(id=ex.id, output="x", finish_reason="stop") for ex in examples]


class PlainPipeline:
    """A pipeline that knows nothing of progress (the protocol's older shape)."""

    def run_batch(self, examples: list[Example]) -> list[Result]:
        return [Result(id=ex.id, output="x", finish_reason="stop") for ex in examples]


def examples(n: int) -> list[Example]:
    return [Example(f"e{i}", [{"role": "user", "content": f"q{i}"}]) for i in range(n)]


def test_progress_is_keyed_by_id_and_comes_before_the_records(tmp_path: Path) -> None:
    seen: list[tuple[str, object]] = []
    writer = ResultWriter(tmp_path / "out.jsonl")
    runner = BatchRunner(
        RoundsPipeline(), writer, recipe_hash="h", recipe={}, batch_size=2,
        on_record=lambda r: seen.append(("record", r["id"])),
        on_progress=lambda row_id, p: seen.append((row_id, p)),
    )
    runner.run(examples(3))
    writer.close()
    assert seen == [
        ("e0", RowProgress(3, 1)), ("e1", RowProgress(3, 1)), ("e0", RowProgress(6, 2)), ("e1", RowProgress(6, 2)),
        ("record", "e0"), ("record", "e1"),
        ("e2", RowProgress(3, 1)), ("e2", RowProgress(6, 2)),
        ("record", "e2"),
    ]


def test_a_pipeline_without_the_hook_still_runs_when_nobody_listens(tmp_path: Path) -> None:
    writer = ResultWriter(tmp_path / "out.jsonl")
    stats = BatchRunner(PlainPipeline(), writer, recipe_hash="h", recipe={}).run(examples(2))
    writer.close()
    assert stats.ok == 2
