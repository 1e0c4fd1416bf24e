"""``RayBench`` against a fake Ray (no cluster): each system's records in batch order whatever
order the batches finish in (a bench resumes by whole batches from the front), unusable rows in
their place, a lost batch sent again, and each system's time the sum of its batch calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ensemble_cli.api.recipes import resolve
from ensemble_cli.core.types import Example
from ensemble_cli.distributed.options import RayOptions
from ensemble_cli.distributed.pool import RayPool
from ensemble_cli.distributed.ray_bench import RayBench
from ensemble_cli.evaluation.baselines import Baseline
from ensemble_cli.evaluation.bench import systems_for
from ensemble_cli.io.readers import RowError
from fake_ray import FakeActor, FakeRay


class ShuffledRay(FakeRay):
    """Hands back the *newest* reference first, so batches finish out of order."""

    def wait(self, refs: list[Any], num_returns: int = 1, timeout: float | None = None) -> tuple[list, list]:
        return refs[-1:], refs[:-1]


def rows() -> list[Any]:
    out: list[Any] = [Example(f"q{i}", [{"role": "user", "content": f"{i}?"}], label=str(i)) for i in range(5)]
    out.insert(3, RowError("bad", 4, "not JSON"))
    return out


def bench(tmp_path: Path, duo: dict[str, Any], ray: FakeRay, actors: list[FakeActor]) -> tuple[RayBench, list]:
    systems = systems_for(resolve(duo), tmp_path)
    runner = RayBench(systems, RayOptions("127.0.0.1:1", len(actors)))
    runner.pool = RayPool(ray, runner.options, actors=actors)
    heard: list[tuple[str, int]] = []
    runner.run(rows(), batch_size=2, on_batch=lambda system, n: heard.append((system.name, n)))
    return runner, heard


def ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_records_are_written_in_batch_order_with_unusable_rows_in_place(tmp_path: Path, duo: dict[str, Any]) -> None:
    flaky = FakeActor("a")
    flaky.dies = lambda batch: len(flaky.batches) == 2  # killed under its second batch
    runner, heard = bench(tmp_path, duo, ShuffledRay(), [flaky, FakeActor("b")])
    for system in runner.systems:
        # chunks [q0 q1] [q2 bad] [q3 q4]: a chunk's unusable row first, as a local bench writes it
        assert ids(system.path) == ["q0", "q1", "bad", "q2", "q3", "q4"], system.name
        assert [r["id"] for r in system.records] == ids(system.path)
        assert abs(system.seconds - 3 * 0.25) < 1e-9  # three batch calls, as the workers timed them
    ensemble = runner.systems[-1]
    outputs = [json.loads(line).get("output") for line in ensemble.path.read_text().splitlines()]
    assert outputs[0] == "out 2 q0"  # the ensemble is the workers' third recipe
    assert [n for name, n in heard if name == ensemble.name] == [2, 2, 2]


def test_a_reused_member_is_written_not_run(tmp_path: Path, duo: dict[str, Any]) -> None:
    systems = systems_for(resolve(duo), tmp_path)
    first = systems[0]
    first.reuse(Baseline(tmp_path / "earlier.jsonl", [{"id": r.id, "output": "earlier"} for r in rows()], 0.0))
    actor = FakeActor("a")
    runner = RayBench(systems, RayOptions("127.0.0.1:1", 1))
    runner.pool = RayPool(FakeRay(), runner.options, actors=[actor])
    runner.run(rows(), batch_size=2)
    assert runner.active == [1, 2] and set(actor.systems) == {0, 1}  # workers hold the two systems that run
    assert [json.loads(line)["output"] for line in first.path.read_text().splitlines()] == ["earlier"] * 6
    assert json.loads(systems[1].path.read_text().splitlines()[0])["output"] == "out 0 q0"


def test_a_partly_reused_member_runs_only_the_batches_after_them(tmp_path: Path, duo: dict[str, Any]) -> None:
    systems = systems_for(resolve(duo), tmp_path)
    first = systems[0]
    earlier = [{"id": r.id, "output": "earlier"} for r in rows()[:2]]
    first.reuse(Baseline(tmp_path / "earlier.jsonl", earlier, 0.0, complete=False))
    actor = FakeActor("a")
    runner = RayBench(systems, RayOptions("127.0.0.1:1", 1))
    runner.pool = RayPool(FakeRay(), runner.options, actors=[actor])
    runner.run(rows(), batch_size=2)
    assert runner.active == [0, 1, 2]  # it still has batches to run on the workers
    assert ids(first.path) == ["q0", "q1", "bad", "q2", "q3", "q4"]
    outputs = [json.loads(line).get("output") for line in first.path.read_text().splitlines()]
    assert outputs[:2] == ["earlier"] * 2 and outputs[3:] == ["out 0 q2", "out 0 q3", "out 0 q4"]
