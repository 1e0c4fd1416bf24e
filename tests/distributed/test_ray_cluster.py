"""``ensemble run --ray`` on a real local Ray cluster: a head and a second node joining it on
127.0.0.1, one CPU each, so the two workers land on two "nodes".

Records equal a local run's (floats to 1e-6: another process may round a float32 sum in its last
bit); a worker process killed under a batch loses nothing (every id exactly once); a driver killed
mid-run is continued by ``--resume`` (every id exactly once); an address nobody listens on fails
within seconds naming it, and a recipe error comes before any connection.

The cluster is stopped by killing the process sessions ``ray start`` created (``ray stop`` would stop
every Ray process of this user on the machine, other people's clusters included).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import ensemble_cli
from ensemble_cli.api.ensemble import Ensemble

pytest.importorskip("ray")
pytestmark = pytest.mark.ray

ENTRY = "from ensemble_cli.cli.main import main; main()"
SRC = str(Path(ensemble_cli.__file__).resolve().parents[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment() -> dict[str, str]:
    """The drivers' and the nodes' environment: this checkout importable, one thread, no token auth
    (a throwaway cluster on 127.0.0.1), no usage reporting."""
    env = {k: v for k, v in os.environ.items() if k not in ("ENSEMBLE_DEBUG", "RAY_ADDRESS")}
    env.update(PYTHONPATH=os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p), OMP_NUM_THREADS="1",
               RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    return env


def session_processes(sessions: set[int]) -> list[tuple[int, str]]:
    """(pid, command line) of every live process in ``sessions``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) in sessions and fields[0] != "Z":
            found.append((int(entry.name), cmdline))
    return found


def ray_start(args: list[str]) -> int:
    """Run ``ray start`` in a session of its own; the session id its daemons keep."""
    ray = Path(sys.executable).with_name("ray")
    command = [str(ray)] if ray.exists() else [sys.executable, "-m", "ray.scripts.scripts"]
    proc = subprocess.Popen([*command, "start", *args, "--num-cpus=1", "--node-ip-address=127.0.0.1",
                             "--object-store-memory=80000000", "--disable-usage-stats"],
                            env=environment(), start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate(timeout=180)
    if proc.returncode != 0:
        raise RuntimeError(f"ray start {' '.join(args)} failed:\n{out}")
    return proc.pid


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, set[int]]]:
    """``127.0.0.1:PORT`` of a two-node cluster, and the sessions its processes run in."""
    port, sessions = free_port(), set()
    temp = tempfile.mkdtemp(prefix="ens-ray-", dir="/tmp")  # short: Ray's socket paths must stay short
    try:
        sessions.add(ray_start(["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}"]))
        sessions.add(ray_start([f"--address=127.0.0.1:{port}"]))
        yield f"127.0.0.1:{port}", sessions
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid, _ in session_processes(sessions):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            time.sleep(2)
        shutil.rmtree(temp, ignore_errors=True)
        assert not session_processes(sessions), "the test cluster did not stop"


@pytest.fixture(scope="module")
def setup(duo: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ray-run")
    recipe = root / "duo.yaml"
    recipe.write_text(yaml.safe_dump(duo))
    data = root / "data.jsonl"
    data.write_text("".join(json.dumps({"id": f"r{i}", "prompt": f"Say {i}."}) + "\n" for i in range(16)))
    return recipe, data


def ensemble(*args: str, wait: bool = True, log: Path | None = None) -> Any:
    """``ensemble ARGS`` in a fresh process (stderr to ``log``, a file, when given)."""
    err = open(log, "w") if log else subprocess.PIPE  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([sys.executable, "-c", ENTRY, *args], env=environment(), stdout=subprocess.PIPE,
                            stderr=err, text=True)
    if not wait:
        return proc
    stdout, stderr = proc.communicate(timeout=300)
    proc.stdout_text, proc.stderr_text = stdout, stderr if log is None else log.read_text()
    return proc


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_every_id_once(path: Path, n: int) -> list[dict[str, Any]]:
    recs = records(path)
    ids = [r["id"] for r in recs]
    assert sorted(ids) == sorted(f"r{i}" for i in range(n)), ids  # each once: no loss, no duplicate
    assert all("error" not in r for r in recs), [r["error"] for r in recs if "error" in r]
    return recs


def assert_same_record(got: dict[str, Any], want: dict[str, Any]) -> None:
    """Two processes' records of one row agree: everything but ``timing`` equal, texts, tokens and
    choices exactly, floats to 1e-6 relative. A float32 score summed in another process (a Ray
    worker: its own heap, its own MKL dispatch) may differ in its last bit; seen in CI:
    -10.1252760887146 vs -10.125276327133179, same text, same choice."""

    def same(a: Any, b: Any, where: str) -> None:
        if isinstance(a, float) and isinstance(b, float):
            assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9), f"{where}: {a} != {b}"
        elif isinstance(a, dict) and isinstance(b, dict):
            assert a.keys() == b.keys(), f"{where}: keys {sorted(a)} != {sorted(b)}"
            for key in a:
                same(a[key], b[key], f"{where}.{key}")
        elif isinstance(a, list) and isinstance(b, list):
            assert len(a) == len(b), f"{where}: {len(a)} items != {len(b)}"
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                same(x, y, f"{where}[{i}]")
        else:
            assert a == b, f"{where}: {a!r} != {b!r}"

    same({k: v for k, v in got.items() if k != "timing"}, {k: v for k, v in want.items() if k != "timing"},
         str(got.get("id")))


def wait_for(condition: Any, what: str, timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_records_equal_a_local_run(cluster: tuple[str, set[int]], setup: tuple[Path, Path], tmp_path: Path) -> None:
    recipe, data = setup
    local, remote = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    with Ensemble.from_recipe(recipe) as ens:
        ens.run(data, local, batch_size=2, limit=8, progress=False)
    proc = ensemble("run", str(recipe), "--input", str(data), "--output", str(remote), "--limit", "8",
                    "--batch-size", "2", "--ray", cluster[0], "--ray-workers", "2")
    assert proc.returncode == 0, proc.stderr_text
    assert "Ray worker 2 ready on node" in proc.stderr_text
    got = assert_every_id_once(remote, 8)
    nodes = {r["timing"].pop("node_id") for r in got}
    assert len(nodes) == 2  # one worker per node
    expected = {r["id"]: r for r in records(local)}
    for r in got:
        want = expected[r["id"]]
        assert_same_record(r, want)
        assert r["timing"]["batch_size"] == want["timing"]["batch_size"] == 2


def test_a_worker_killed_mid_batch_loses_nothing(
    cluster: tuple[str, set[int]], setup: tuple[Path, Path], tmp_path: Path
) -> None:
    recipe, data = setup
    out, log = tmp_path / "out.jsonl", tmp_path / "stderr.log"
    proc = ensemble("run", str(recipe), "--input", str(data), "--output", str(out), "--batch-size", "2",
                    "--ray", cluster[0], "--ray-workers", "2", wait=False, log=log)
    try:
        def busy_worker() -> int | None:  # a worker actor in the middle of a batch (its process title)
            if not (out.exists() and out.read_text()):
                return None
            busy = [pid for pid, cmd in session_processes(cluster[1]) if cmd.startswith("ray::RayWorker.run")]
            return busy[0] if busy else None

        os.kill(wait_for(busy_worker, "a worker running a batch"), signal.SIGKILL)
        assert proc.wait(timeout=300) == 0, log.read_text()
    finally:
        proc.kill()
    assert "a Ray worker lost a batch of 2 rows" in log.read_text() and "sending it again" in log.read_text()
    assert_every_id_once(out, 16)


def test_a_killed_driver_is_continued_by_resume(
    cluster: tuple[str, set[int]], setup: tuple[Path, Path], tmp_path: Path
) -> None:
    recipe, data = setup
    out = tmp_path / "out.jsonl"
    args = ["run", str(recipe), "--input", str(data), "--output", str(out), "--batch-size", "2", "--ray", cluster[0]]
    proc = ensemble(*args, wait=False, log=tmp_path / "first.log")
    try:
        wait_for(lambda: out.exists() and len(out.read_text().splitlines()) >= 4, "the first records")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    before = {r["id"] for r in records(out) if "error" not in r}
    assert 4 <= len(before) < 16
    again = ensemble(*args, "--resume")
    assert again.returncode == 0, again.stderr_text
    assert f"{16 - len(before)} of 16 rows to do" in again.stderr_text
    assert_every_id_once(out, 16)


def test_an_unreachable_address_fails_within_seconds_naming_it(setup: tuple[Path, Path], tmp_path: Path) -> None:
    recipe, data = setup
    address = f"127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    proc = ensemble("run", str(recipe), "--input", str(data), "--output", str(tmp_path / "o.jsonl"), "--ray", address)
    assert proc.returncode == 2, proc.stderr_text
    assert time.monotonic() - t0 < 30  # Python start and recipe included; the probe itself gives up after 3 s
    assert f"cannot reach the Ray cluster at {address}" in proc.stderr_text
    assert "loading model" not in proc.stderr_text and not (tmp_path / "o.jsonl").exists()


def test_a_recipe_error_comes_before_any_connection(setup: tuple[Path, Path], tmp_path: Path) -> None:
    recipe, data = setup
    bad = tmp_path / "bad.yaml"
    bad.write_text(recipe.read_text().replace("type: reward", "type: rewrd"))
    proc = ensemble("run", str(bad), "--input", str(data), "--ray", f"127.0.0.1:{free_port()}")
    assert proc.returncode == 2, proc.stderr_text
    assert "rewrd" in proc.stderr_text and "did you mean 'reward'" in proc.stderr_text
    assert "Ray" not in proc.stderr_text and "connecting" not in proc.stderr_text


def test_bench_on_the_cluster_writes_what_a_local_bench_writes(
    cluster: tuple[str, set[int]], setup: tuple[Path, Path], tmp_path: Path
) -> None:
    from ensemble_cli.evaluation.bench import Bench, systems_for
    from ensemble_cli.evaluation.datasets import load_input
    from ensemble_cli.io.readers import FieldMap
    from ensemble_cli.recipe import load_recipe

    recipe, _ = setup
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"{i}+1?", "label": str(i + 1)}) + "\n"
                            for i in range(4)))
    local = systems_for(load_recipe(recipe), tmp_path / "local")
    (tmp_path / "local").mkdir()
    runner = Bench(local)
    runner.load()
    runner.run(list(load_input(str(data), FieldMap())), batch_size=2)
    proc = ensemble("bench", str(recipe), "--input", str(data), "--output-dir", str(tmp_path / "ray"),
                    "--batch-size", "2", "--ray", cluster[0], "--ray-workers", "2", "--format", "json")
    assert proc.returncode == 0, proc.stderr_text
    for system in local:
        want = records(system.path)
        got = records(tmp_path / "ray" / system.path.name)
        assert [r["id"] for r in got] == [r["id"] for r in want] == ["q0", "q1", "q2", "q3"]  # batch order
        for r, w in zip(got, want, strict=True):
            assert_same_record(r, w)
    assert json.loads(proc.stdout_text)["problems"] == 4
