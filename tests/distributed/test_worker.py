"""``BatchWorker`` (the Ray actor's body, driven here without Ray): the same results as a local
pipeline, the node id in ``timing``, a failing batch split to rows, a recipe that resolves to
another hash refused."""

from __future__ import annotations

from typing import Any

import pytest

from ensemble_cli.api.ensemble import Ensemble
from ensemble_cli.api.inputs import as_examples
from ensemble_cli.distributed.worker import BatchWorker
from ensemble_cli.errors import UsageError


@pytest.fixture(scope="module")
def worker(duo: dict[str, Any]) -> BatchWorker:
    hash_ = Ensemble.from_recipe(duo).recipe_hash
    return BatchWorker([duo], hashes=[hash_], node_id="node-1")


def examples(n: int) -> list[Any]:
    return as_examples([{"id": f"r{i}", "prompt": f"Say {i}."} for i in range(n)])[0]


def test_outcomes_match_a_local_pipeline_and_carry_the_node(worker: BatchWorker, duo: dict[str, Any]) -> None:
    batch = examples(3)
    (outcome,) = worker.run(batch)
    kind, rows, results, timing = outcome
    assert kind == "results" and [r.id for r in rows] == ["r0", "r1", "r2"]
    assert timing.node_id == "node-1" and timing.to_dict()["node_id"] == "node-1" and timing.batch_size == 3
    with Ensemble.from_recipe(duo) as local:
        expected = local.pipeline.run_batch(batch)
    assert [r.output for r in results] == [r.output for r in expected]


def test_a_failing_batch_is_split_so_only_the_bad_row_fails(
    worker: BatchWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = worker.ensembles[0].pipeline
    real = pipeline.run_batch

    def run_batch(batch: list[Any], **kwargs: Any) -> list[Any]:
        if any(e.id == "r1" for e in batch):
            raise ValueError("row r1 is cursed")
        return real(batch, **kwargs)

    monkeypatch.setattr(pipeline, "run_batch", run_batch)
    outcomes = worker.run(examples(3))
    kinds = [(o[0], o[1][0].id if o[0] == "results" else o[1].id) for o in outcomes]
    assert kinds == [("results", "r0"), ("failed", "r1"), ("results", "r2")]
    failed = outcomes[1]
    assert failed[2] == "ValueError: row r1 is cursed" and failed[3] is None  # traceback only when verbose


def test_a_recipe_resolving_to_another_hash_is_refused(duo: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="resolves to hash .* on node n7 but 0123456789abcdef on the driver"):
        BatchWorker([duo], hashes=["0123456789abcdef"], node_id="n7")
