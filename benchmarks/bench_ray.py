"""``ensemble run --ray`` against a local run: throughput with 1 and 2 Ray workers, and what Ray adds
per batch.

The quickstart ensemble (SmolLM2 + Gemma-3, reward-guided segments) on the first 32 GSM8K prompts,
three ways in one process, side by side:

  (a) a local run, torch on one thread;
  (b) ``--ray`` on a local Ray instance with 1 worker (one CPU, one torch thread);
  (c) the same with 2 workers.

Every run has the same batches (``--batch-size``) and ``generation.ignore_eos=true`` so each row is
exactly ``max_tokens`` long and the three do the same work. Throughput is completion tokens per
second of generation (model loading, starting the pool and leaving the cluster excluded). Printed:
tok/s of each, the ratios (b)/(a) and (c)/(a), and the per-batch overhead of Ray — the driver's
wall time per batch in (b) minus the worker's own time for the batch (``timing.seconds``), and
(b)'s time per batch against (a)'s (target: ≤ 5 % at batch 8). The records of (b) and (c) are
checked against (a)'s (same outputs).

    python benchmarks/bench_ray.py              # 32 prompts, 64 tokens, batch 8
    python benchmarks/bench_ray.py --quick      # 4 prompts, 8 tokens, batch 2 (a smoke run)

On a machine with fewer than 2 free cores, (c) cannot beat (b): the ratio then says so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch loads, in the driver and the workers it starts

ROOT = Path(__file__).resolve().parents[1]
GSM8K = ROOT.parent / "shared" / "data" / "gsm8k" / "test.json"  # the shared datasets beside the checkout, if any
sys.path.insert(0, str(ROOT / "src"))
# the Ray workers import this checkout too (they start from the environment, not from sys.path)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)

from ensemble_cli.api.ensemble import Ensemble  # noqa: E402
from ensemble_cli.distributed.options import RayOptions  # noqa: E402


def prompts(n: int, folder: Path) -> Path:
    """The first ``n`` GSM8K questions (the demo prompts, varied, when the data is absent) as JSONL."""
    if GSM8K.exists():
        rows = [r["input"] for r in json.loads(GSM8K.read_text())[:n]]
    else:
        demo = [json.loads(line)["prompt"] for line in (ROOT / "data/demo.jsonl").read_text().splitlines() if line]
        rows = [f"{demo[i % len(demo)]} (variant {i})" for i in range(n)]
    path = folder / "prompts.jsonl"
    path.write_text("".join(json.dumps({"id": f"p{i}", "prompt": p}) + "\n" for i, p in enumerate(rows)))
    return path


def run(label: str, data: Path, out: Path, args: argparse.Namespace, ray: RayOptions | None) -> dict:
    overrides = [f"generation.max_tokens={args.max_tokens}", "generation.ignore_eos=true"]
    with Ensemble.from_recipe(ROOT / "recipes/quickstart.yaml", overrides) as ens:
        report = ens.run(data, out, overwrite=True, resume=False, batch_size=args.batch_size, progress=False, ray=ray)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert report.errors == 0, [r.get("error") for r in records if "error" in r]
    batches = -(-len(records) // args.batch_size)
    # one record per batch carries its time (a batch's rows share it; with 1 worker, batches run one by one)
    worker_seconds = sum(r["timing"]["seconds"] for r in records[:: args.batch_size])
    tokens = report.stats.completion_tokens
    print(f"  {label:<16} {tokens / report.seconds:8.1f} tok/s   {report.seconds:7.2f} s generating   "
          f"{batches} batches   load {report.load_seconds:5.1f} s", flush=True)
    return {"seconds": report.seconds, "tokens": tokens, "batches": batches, "worker_seconds": worker_seconds,
            "outputs": {r["id"]: r["output"] for r in records}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="4 prompts, 8 tokens, batch 2: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.prompts, args.max_tokens, args.batch_size = 4, 8, 2
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        folder = Path(tmp)
        data = prompts(args.prompts, folder)
        print(f"quickstart, {args.prompts} prompts × {args.max_tokens} tokens, batch {args.batch_size}, "
              "one thread each")
        local = run("local", data, folder / "local.jsonl", args, None)
        one = run("ray, 1 worker", data, folder / "ray1.jsonl", args, RayOptions(workers=1, num_cpus=1))
        two = run("ray, 2 workers", data, folder / "ray2.jsonl", args, RayOptions(workers=2, num_cpus=1))
    rate = {k: v["tokens"] / v["seconds"] for k, v in (("local", local), ("one", one), ("two", two))}
    print(f"\nthroughput ratio   ray 1 worker / local {rate['one'] / rate['local']:.2f}   "
          f"ray 2 workers / local {rate['two'] / rate['local']:.2f}   (2 workers / 1 worker "
          f"{rate['two'] / rate['one']:.2f}; ideal 2.00 with 2 free cores)")
    per_batch_local = local["seconds"] / local["batches"]
    per_batch_one = one["seconds"] / one["batches"]
    overhead = (one["seconds"] - one["worker_seconds"]) / one["batches"]
    print(f"per-batch overhead ray 1 worker: {overhead * 1000:.1f} ms per batch beyond the worker's own time "
          f"({overhead / per_batch_local:+.1%} of a local batch); time per batch vs local "
          f"{per_batch_one / per_batch_local - 1:+.1%} (target ≤ +5% at batch 8)")
    same = all(run_["outputs"] == local["outputs"] for run_ in (one, two))
    print(f"outputs equal to the local run's: {'yes' if same else 'NO'}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
