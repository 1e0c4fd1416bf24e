"""``RayBatchRunner`` and ``dispatch``'s scheduling against a fake Ray (no cluster): a lost batch is sent again and
every id written exactly once; a worker is probed back before it gets new work; a batch that keeps
killing workers ends as error records; a pool with no worker left stops the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ensemble_cli.core.types import Example
from ensemble_cli.distributed.cluster import ClusterError
from ensemble_cli.distributed.options import RayOptions
from ensemble_cli.distributed.pool import RayPool
from ensemble_cli.distributed.ray_runner import RayBatchRunner
from ensemble_cli.io.writers import ResultWriter, scan_output
from fake_ray import ActorDiedError, ActorUnavailableError, FakeActor, FakeRay


def rows(n: int) -> list[Example]:
    return [Example(f"r{i}", [{"role": "user", "content": f"say {i}"}]) for i in range(n)]


def run(
    tmp_path: Path, actors: list[FakeActor], items: list[Any], retries: int = 3
) -> tuple[RayBatchRunner, list[dict]]:
    import json

    pool = RayPool(FakeRay(), RayOptions("127.0.0.1:1", len(actors), max_retries=retries), actors=actors)
    lost: list[str] = []
    out = tmp_path / "out.jsonl"
    with ResultWriter(out) as writer:
        runner = RayBatchRunner(pool, writer, recipe_hash="h", recipe={}, batch_size=2, on_lost=lost.append)
        try:
            runner.run(items)
        finally:
            runner.lost = lost  # type: ignore[attr-defined]
    return runner, [json.loads(line) for line in out.read_text().splitlines()]


def test_a_batch_whose_worker_died_is_sent_again_and_every_id_written_once(tmp_path: Path) -> None:
    def dies_once(batch: list[Example]) -> bool:  # killed under its second batch
        return len(flaky.batches) == 2

    flaky = FakeActor("a", dies=dies_once, probes=[ActorUnavailableError("restarting")])
    steady = FakeActor("b")
    runner, records = run(tmp_path, [flaky, steady], rows(8))
    ids = [r["id"] for r in records]
    assert sorted(ids) == sorted(f"r{i}" for i in range(8)) and len(ids) == len(set(ids))
    assert all("error" not in r for r in records)
    assert runner.stats.ok == 8 and runner.stats.errors == 0
    assert len(runner.lost) == 1 and "sending it again" in runner.lost[0]  # type: ignore[attr-defined]
    # the lost batch ran again on the other worker; the flaky one came back after its probe answered
    assert flaky.batches[1] == ["r4", "r5"] and ["r4", "r5"] in steady.batches
    by_node = {r["id"]: r["timing"]["node_id"] for r in records}
    assert by_node["r4"] == by_node["r5"] == "b"
    assert scan_output(tmp_path / "out.jsonl").done == set(ids)


def test_a_batch_that_keeps_killing_workers_ends_as_error_records(tmp_path: Path) -> None:
    poison = lambda batch: any(e.id == "r0" for e in batch)  # noqa: E731
    actors = [FakeActor("a", dies=poison), FakeActor("b", dies=poison)]
    runner, records = run(tmp_path, actors, rows(6), retries=2)
    errors = {r["id"]: r["error"] for r in records if "error" in r}
    assert set(errors) == {"r0", "r1"}  # the poisoned batch only
    assert all("failed 3 times on this batch" in e and "socket closed" in e for e in errors.values())
    assert {r["id"] for r in records if "error" not in r} == {"r2", "r3", "r4", "r5"}
    assert len([r for r in records]) == 6


def test_a_pool_without_a_live_worker_stops_the_run(tmp_path: Path) -> None:
    gone = FakeActor("a", dies=lambda batch: True, probes=[ActorDiedError("dead for good")])
    with pytest.raises(ClusterError, match="every Ray worker at 127.0.0.1:1 has failed; 4 rows not run"):
        run(tmp_path, [gone], rows(4))
    assert not (tmp_path / "out.jsonl").exists()  # nothing was written: nothing finished


def test_input_errors_are_written_by_the_driver(tmp_path: Path) -> None:
    from ensemble_cli.io.readers import RowError

    items: list[Any] = [*rows(2), RowError("bad", 3, "not JSON")]
    runner, records = run(tmp_path, [FakeActor("a")], items)
    assert {r["id"]: "error" in r for r in records} == {"r0": False, "r1": False, "bad": True}
