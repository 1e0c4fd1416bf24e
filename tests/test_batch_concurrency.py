"""``BatchRunner(concurrency=N)``: N batches in flight, every row accounted for, failures isolated,
records written only by the calling thread."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from ensemble_cli.batch import BatchRunner
from ensemble_cli.core.types import Example, Result
from ensemble_cli.io.writers import ResultWriter


class SlowPipeline:
    """Sleeps per batch (like waiting on a remote server) and records how many batches overlap."""

    def __init__(self, delay: float = 0.2, fail: set[str] = frozenset(), interrupt: str | None = None) -> None:
        self.delay = delay
        self.fail = fail
        self.interrupt = interrupt
        self.lock = threading.Lock()
        self.running = 0
        self.max_running = 0

    def run_batch(self, examples: list[Example]) -> list[Result]:
        with self.lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            time.sleep(self.delay)
            if any(ex.id == self.interrupt for ex in examples):
                raise KeyboardInterrupt
            if any(ex.id in self.fail for ex in examples):
                raise RuntimeError("boom")
            return [Result(id=ex.id, output=ex.prompt.upper(), finish_reason="stop") for ex in examples]
        finally:
            with self.lock:
                self.running -= 1


def examples(n: int) -> list[Example]:
    return [Example(f"e{i}", [{"role": "user", "content": f"q{i}"}]) for i in range(n)]


def run(tmp_path: Path, pipeline: SlowPipeline, n: int, **kwargs) -> tuple[list[dict], float]:
    out = tmp_path / "out.jsonl"
    writer = ResultWriter(out)
    writers: set[threading.Thread] = set()
    runner = BatchRunner(pipeline, writer, recipe_hash="h", recipe={}, on_record=lambda r: writers.add(
        threading.current_thread()), **kwargs)
    start = time.perf_counter()
    try:
        runner.run(examples(n))
    finally:
        writer.close()
    elapsed = time.perf_counter() - start
    assert writers <= {threading.current_thread()}
    return [json.loads(line) for line in out.read_text().splitlines()], elapsed


def test_keeps_n_batches_in_flight(tmp_path):
    pipeline = SlowPipeline(0.2)
    records, elapsed = run(tmp_path, pipeline, 8, batch_size=1, concurrency=4)
    assert sorted(r["id"] for r in records) == [f"e{i}" for i in range(8)]
    assert all(r["output"] == r["prompt"].upper() for r in records)
    assert pipeline.max_running == 4
    assert elapsed < 8 * 0.2 * 0.75  # about two rounds of 0.2 s, not eight


def test_failures_are_isolated_per_row(tmp_path):
    pipeline = SlowPipeline(0.05, fail={"e3"})
    records, _ = run(tmp_path, pipeline, 6, batch_size=2, concurrency=3)
    by_id = {r["id"]: r for r in records}
    assert sorted(by_id) == [f"e{i}" for i in range(6)]
    assert by_id["e3"]["error"] == "RuntimeError: boom"
    assert by_id["e2"]["output"] == "Q2"  # e3's batch partner still gets its result


def test_interrupt_in_a_worker_reaches_the_caller(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, SlowPipeline(0.05, interrupt="e2"), 6, batch_size=1, concurrency=2)


def test_concurrency_one_is_the_serial_path(tmp_path):
    pipeline = SlowPipeline(0.01)
    records, _ = run(tmp_path, pipeline, 5, batch_size=2)
    assert [r["id"] for r in records] == [f"e{i}" for i in range(5)]
    assert pipeline.max_running == 1
