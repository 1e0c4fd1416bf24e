"""``--ray``'s options and connection checks that need no cluster: the pool's size and GPUs, a bare
``--ray``, an address that is not one, a missing ``ray`` package."""

from __future__ import annotations

import socket
import sys
import time
from types import SimpleNamespace

import pytest

from ensemble_cli.cli.ray_flags import bare_ray_flag, ray_options
from ensemble_cli.distributed.cluster import ClusterError, import_ray, probe
from ensemble_cli.distributed.options import LOCAL, RayOptions
from ensemble_cli.errors import UsageError


def test_a_bare_ray_flag_means_a_local_instance() -> None:
    assert bare_ray_flag(["run", "r.yaml", "--ray"]) == ["run", "r.yaml", "--ray", "local"]
    assert bare_ray_flag(["run", "r.yaml", "--ray", "--ray-workers", "2"])[3] == "local"
    assert bare_ray_flag(["run", "r.yaml", "--ray", "10.0.0.1:6379"]) == ["run", "r.yaml", "--ray", "10.0.0.1:6379"]
    assert bare_ray_flag(["run", "r.yaml"]) == ["run", "r.yaml"]
    assert ray_options(None, 2, 1.0, None, 3) is None  # the pool flags do nothing without --ray
    assert ray_options("auto", 2, 1.0, None, 3) == RayOptions("auto", 2, 1.0, None, 3)


def test_pool_size_fills_the_cluster_but_not_past_the_batches() -> None:
    resources = {"CPU": 8.0, "GPU": 2.0}
    assert RayOptions(num_cpus=2).pool_size(resources, 0.0, batches=100) == 4
    assert RayOptions(num_cpus=1).pool_size(resources, 1.0, batches=100) == 2  # GPUs bind first
    assert RayOptions(num_cpus=1).pool_size(resources, 0.0, batches=3) == 3
    assert RayOptions(workers=5).pool_size(resources, 0.0, batches=1) == 5  # as asked


def test_gpus_per_worker_follow_the_vllm_members() -> None:
    members = [SimpleNamespace(type="vllm", config=SimpleNamespace(tensor_parallel_size=2)),
               SimpleNamespace(type="hf", config=SimpleNamespace(model="x"))]
    resolved = SimpleNamespace(models=members)
    assert RayOptions().gpus_for(resolved) == 2.0  # type: ignore[arg-type]
    assert RayOptions(num_gpus=0.5).gpus_for(resolved) == 0.5  # type: ignore[arg-type]


@pytest.mark.parametrize(("field", "value"), [("workers", 0), ("num_cpus", 0), ("num_gpus", -1), ("max_retries", -1)])
def test_bad_pool_options_are_usage_errors(field: str, value: float) -> None:
    with pytest.raises(UsageError, match="--ray-"):
        RayOptions(**{field: value})


def test_an_address_nobody_listens_on_fails_at_once_naming_it() -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        t0 = time.monotonic()
        with pytest.raises(ClusterError, match=f"cannot reach the Ray cluster at {address}"):
            probe(address)
        assert time.monotonic() - t0 < 5
    with pytest.raises(UsageError, match="'nonsense' is not host:port"):
        probe("nonsense")
    assert LOCAL == "local"


def test_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(UsageError, match=r"pip install 'ensemble-cli\[ray\]'"):
        import_ray()
