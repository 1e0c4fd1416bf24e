"""Token-level ensemble cost: ``union`` and ``topk-union`` against running the two members alone.

SmolLM2-135M-Instruct + Gemma-3-270M, bf16, CPU, GSM8K test prompts, measured side by side in one
process (so a busy machine distorts every column alike):

  * each member alone: its own ``HFSessionBatch.generate`` (the same session code the ensemble
    steps), greedy, the same number of new tokens at the same batch size;
  * ``union`` and ``topk-union`` through ``Pipeline.run_batch`` with the recipes' members;
  * ``union`` gated (``primary: smol, threshold: 0.9``): share of steps that were ensembled and
    the speed-up over ungated ``union``.

Outputs are forced to full length (``ignore_eos``, no stop strings) so every mode writes the same
number of tokens. Prints time per generated token and ratio = ensemble / (smol alone + gemma alone).

    python benchmarks/bench_token_ensemble.py           # the issue's configuration: 8 prompts, 128 tokens
    python benchmarks/bench_token_ensemble.py --quick   # 2 prompts, 32 tokens: a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from ensemble_cli.core.pipeline import Pipeline
from ensemble_cli.core.types import Example, GenerationSettings
from ensemble_cli.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]


def gsm8k_prompts(path: Path, n: int) -> list[Example]:
    rows = json.loads(path.read_text())
    return [Example(f"gsm8k-{i}", [{"role": "user", "content": r["input"]}]) for i, r in enumerate(rows[:n])]


def chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def pipeline(method: str, length: int, extra: list[str] = ()) -> Pipeline:
    recipe = ROOT / "recipes" / ("token-union.yaml" if method == "union" else "token-topk.yaml")
    resolved = load_recipe(str(recipe), [
        f"generation.max_tokens={length}", "generation.ignore_eos=true", "generation.stop=[]",
        "aggregator.params.weights=uniform", *extra,
    ])
    pipe = Pipeline(resolved)
    pipe.load()
    return pipe


def time_alone(pipe: Pipeline, group: list[Example], length: int) -> dict[str, float]:
    settings = GenerationSettings(max_tokens=length, ignore_eos=True)
    out = {}
    for m in pipe.members:
        start = time.perf_counter()
        m.generator.open(group, settings, salt=m.name).generate(length, ignore_eos=True)
        out[m.name] = time.perf_counter() - start
    return out


def time_ensemble(pipe: Pipeline, group: list[Example]) -> tuple[float, list]:
    start = time.perf_counter()
    results = pipe.run_batch(group)
    return time.perf_counter() - start, results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = next((p / "shared" / "data" / "gsm8k" / "test.json" for p in ROOT.parents
                         if (p / "shared" / "data" / "gsm8k" / "test.json").exists()), None)
    ap.add_argument("--data", default=str(default_data or ROOT.parent / "shared" / "data" / "gsm8k" / "test.json"))
    ap.add_argument("--quick", action="store_true", help="2 prompts, 32 tokens")
    ap.add_argument("--batches", default="1,8", help="batch sizes, comma-separated (default 1,8)")
    ap.add_argument("--prompts", type=int, default=None)
    ap.add_argument("--tokens", type=int, default=None)
    args = ap.parse_args()
    n_prompts = args.prompts or (2 if args.quick else 8)
    length = args.tokens or (32 if args.quick else 128)
    examples = gsm8k_prompts(Path(args.data), n_prompts)
    print(f"torch threads={torch.get_num_threads()} OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} "
          f"prompts={n_prompts} tokens={length}")
    union = pipeline("union", length)
    topk = pipeline("topk", length)
    gated = pipeline("union", length, ["aggregator.params.primary=smol", "aggregator.params.threshold=0.9"])
    # warm-up: lazy init, the union vocabulary, allocator growth
    for p in (union, topk, gated):
        p.run_batch(examples[:1])
    time_alone(union, examples[:1], 4)
    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        # every mode runs on each group in turn, so load changes on a shared machine hit all alike
        times = {"smol": 0.0, "gemma": 0.0, "union": 0.0, "topk-union": 0.0, "gated": 0.0}
        gated_share = []
        for group in chunks(examples, batch):
            for k, v in time_alone(union, group, length).items():
                times[k] += v
            for name, pipe in (("union", union), ("topk-union", topk), ("gated", gated)):
                t, res = time_ensemble(pipe, group)
                assert all(r.rounds == length for r in res), name
                times[name] += t
                if name == "gated":
                    gated_share.extend(r.summary["gated_share"] for r in res)
        tokens = n_prompts * length
        base = times["smol"] + times["gemma"]
        row = {"batch": batch, "tokens": tokens, **{f"{k}_ms_per_token": 1000 * v / tokens for k, v in times.items()}}
        for name in ("union", "topk-union"):
            row[f"{name}_ratio"] = times[name] / base
        row["gated_ensembled_share"] = 1 - sum(gated_share) / len(gated_share)
        row["gated_speedup_over_union"] = times["union"] / times["gated"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\nsummary (ms per generated token; ratio = ensemble / (smol alone + gemma alone))")
    print(f"{'batch':>5} {'smol':>7} {'gemma':>7} {'union':>7} {'ratio':>6} {'topk':>7} {'ratio':>6}"
          f" {'gated':>7} {'ensembled':>9} {'speed-up':>8}")
    for r in rows:
        print(f"{r['batch']:>5} {r['smol_ms_per_token']:7.1f} {r['gemma_ms_per_token']:7.1f}"
              f" {r['union_ms_per_token']:7.1f} {r['union_ratio']:6.2f} {r['topk-union_ms_per_token']:7.1f}"
              f" {r['topk-union_ratio']:6.2f} {r['gated_ms_per_token']:7.1f} {r['gated_ensembled_share']:9.2f}"
              f" {r['gated_speedup_over_union']:8.2f}")


if __name__ == "__main__":
    sys.exit(main())
