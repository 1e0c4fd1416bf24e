"""The engine loop on its own (no HTTP, no models): batching, isolation, cancellation, limits."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from ensemble_cli.server.engine import Engine, Job, QueueFull


class Recorder:
    """A batch function that upper-cases items, streams them in two pieces, and fails on 'bad'."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[list[str]] = []
        self.delay = delay
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, items: list[Any], emit: Any, cancelled: Any) -> list[str]:
        self.gate.wait(10)
        self.calls.append(list(items))
        out = []
        for i, item in enumerate(items):
            emit(i, item[:1].upper())
            time.sleep(self.delay)
            if cancelled(i):
                out.append("cancelled")
                continue
            emit(i, item[1:].upper())
            out.append(item.upper())
        if any("bad" in item for item in items):
            raise ValueError("bad item in batch")
        return out


def make_job(run: Recorder, items: list[str], key: str = "k") -> tuple[Job, dict[str, Any]]:
    box: dict[str, Any] = {"texts": {}, "done": threading.Event()}

    def finish(outputs: Any, error: Any) -> None:
        box["outputs"], box["error"] = outputs, error
        box["done"].set()

    def on_text(i: int, text: str) -> None:
        box["texts"][i] = box["texts"].get(i, "") + text

    return Job(key, items, run, finish, on_text), box


@pytest.fixture
def engine() -> Any:
    eng = Engine(load=lambda: None, max_batch=4, max_queue=8, gather_seconds=0.05)
    yield eng
    eng.stop(5)


def test_compatible_jobs_share_one_call_and_get_their_own_outputs(engine: Engine) -> None:
    run = Recorder()
    run.gate.clear()
    jobs = [make_job(run, [f"a{i}"]) for i in range(3)] + [make_job(run, ["other"], key="k2")]
    engine.start()
    for job, _ in jobs:
        engine.submit(job)
    run.gate.set()
    for _, box in jobs:
        assert box["done"].wait(10)
    assert [box["outputs"] for _, box in jobs] == [["A0"], ["A1"], ["A2"], ["OTHER"]]
    assert [box["texts"] for _, box in jobs[:3]] == [{0: "A0"}, {0: "A1"}, {0: "A2"}]
    assert ["a0", "a1", "a2"] in run.calls and ["other"] in run.calls  # keys never mix
    assert engine.served == 4 and engine.failed == 0


def test_a_failing_job_does_not_fail_its_batch_mates(engine: Engine) -> None:
    run = Recorder()
    run.gate.clear()
    good, good_box = make_job(run, ["ok1", "ok2"])
    bad, bad_box = make_job(run, ["bad"])
    engine.start()
    engine.submit(good)
    engine.submit(bad)
    run.gate.set()
    assert good_box["done"].wait(10) and bad_box["done"].wait(10)
    assert good_box["outputs"] == ["OK1", "OK2"] and good_box["error"] is None
    assert isinstance(bad_box["error"], ValueError) and bad_box["outputs"] is None
    # the merged call failed and each job ran again alone; streamed text was not sent twice
    assert run.calls[0] == ["ok1", "ok2", "bad"] and ["ok1", "ok2"] in run.calls[1:]
    assert good_box["texts"] == {0: "OK1", 1: "OK2"}


def test_cancel_stops_an_example_and_abandoned_jobs_are_dropped(engine: Engine) -> None:
    run = Recorder(delay=0.2)
    job, box = make_job(run, ["slow"])
    engine.start()
    engine.submit(job)
    time.sleep(0.1)
    job.cancel(0)
    assert box["done"].wait(10)
    assert box["outputs"] == ["cancelled"] and box["texts"] == {0: "S"}

    run.gate.clear()
    first, first_box = make_job(run, ["x"])
    dropped, dropped_box = make_job(run, ["y"], key="other")
    engine.submit(first)
    engine.submit(dropped)
    dropped.cancel()
    run.gate.set()
    assert first_box["done"].wait(10)
    time.sleep(0.2)
    assert not dropped_box["done"].is_set() and dropped.done and ["y"] not in run.calls


def test_queue_limit_and_stop_drains(engine: Engine) -> None:
    run = Recorder()
    run.gate.clear()
    engine.start()
    boxes = []
    for i in range(engine.max_queue + 1):  # one is taken by the worker, max_queue wait
        job, box = make_job(run, [f"q{i}"], key=f"k{i}")
        engine.submit(job)
        boxes.append(box)
        time.sleep(0.01)
    with pytest.raises(QueueFull):
        engine.submit(make_job(run, ["late"])[0])
    run.gate.set()
    engine.stop(10)
    assert all(box["done"].is_set() and box["error"] is None for box in boxes)
    assert engine.state == "stopped"


def test_load_failure_fails_waiting_jobs() -> None:
    def load() -> None:
        time.sleep(0.1)
        raise OSError("no weights")

    failures: list[BaseException] = []
    engine = Engine(load=load, on_failed=failures.append)
    job, box = make_job(Recorder(), ["a"])
    engine.start()
    engine.submit(job)
    assert box["done"].wait(10)
    assert isinstance(box["error"], OSError) and engine.state == "failed" and failures
    engine.stop(5)
