"""What a token-level recipe costs against its members run back to back (any recipe, any members).

``bench_token_ensemble.py`` measures the default pair (SmolLM2 + Gemma-3: two tokenizers, the union
vocabulary's hard case). This one takes a recipe, by default the quality pair of issue 18
(``recipes/quality/coder-token-union.yaml``: Qwen2.5-Coder 1.5B + 0.5B, one shared tokenizer, where
the union should cost nothing beyond the two forwards), and measures side by side in one process:

  * each member alone: its own ``HFSessionBatch.generate``, greedy, the same number of new tokens at
    the same batch size (the session code the ensemble steps);
  * the recipe through ``Pipeline.run_batch``.

Outputs are forced to full length (``ignore_eos``, no stop strings). Each batch size makes
``--repeats`` passes over the prompts; within a pass the members and the recipe run on each group in
turn, in an order that rotates from pass to pass; ratio = recipe / (sum of the members alone), per
pass, then the median. The issue's target for the shared-tokenizer pair: ratio <= 1.05.

    python benchmarks/bench_union_cost.py                       # coder pair, 8 prompts, 128 tokens, batch 1 and 8
    python benchmarks/bench_union_cost.py --quick               # 2 prompts, 32 tokens
    python benchmarks/bench_union_cost.py --recipe recipes/token-union.yaml --batches 8

Needs the recipe's models prepared (``ensemble models prepare``; the coder pair needs the
``large-models`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import torch
from bench_token_ensemble import add_workload_arguments, chunks, gsm8k_prompts, time_alone, time_ensemble

from ensemble_cli.core.pipeline import Pipeline
from ensemble_cli.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default=str(ROOT / "recipes" / "quality" / "coder-token-union.yaml"))
    add_workload_arguments(ap, repeats=1)
    args = ap.parse_args()
    n_prompts = args.prompts or (2 if args.quick else 8)
    length = args.tokens or (32 if args.quick else 128)
    examples = gsm8k_prompts(Path(args.data), n_prompts)
    resolved = load_recipe(args.recipe, [f"generation.max_tokens={length}", "generation.ignore_eos=true",
                                         "generation.stop=[]", "generation.temperature=0"])
    pipe = Pipeline(resolved)
    pipe.load()
    names = [m.name for m in pipe.members]
    print(f"recipe={args.recipe} members={names} torch threads={torch.get_num_threads()} "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} prompts={n_prompts} tokens={length}", flush=True)
    pipe.run_batch(examples[:1])  # warm-up: lazy init, the union vocabulary, allocator growth
    time_alone(pipe, examples[:1], 4)
    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        passes = []
        for rep in range(args.repeats):
            times = dict.fromkeys([*names, "ensemble"], 0.0)
            for group in chunks(examples, batch):
                order = ["alone", "ensemble"] if rep % 2 == 0 else ["ensemble", "alone"]
                for what in order:
                    if what == "alone":
                        for name, seconds in time_alone(pipe, group, length).items():
                            times[name] += seconds
                    else:
                        seconds, results = time_ensemble(pipe, group)
                        assert all(r.rounds == length for r in results), [r.rounds for r in results]
                        times["ensemble"] += seconds
            passes.append(times)
        per_pass = [p["ensemble"] / sum(p[n] for n in names) for p in passes]
        tokens = n_prompts * length
        row = {"batch": batch, "tokens": tokens,
               **{f"{k}_ms_per_token": 1000 * statistics.median(p[k] for p in passes) / tokens for k in passes[0]},
               "ratio": statistics.median(per_pass), "ratio_per_pass": [round(x, 3) for x in per_pass]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\nms per generated token; ratio = recipe / (sum of the members alone)")
    print(f"{'batch':>5} " + " ".join(f"{n:>12}" for n in names) + f" {'recipe':>8} {'ratio':>6}")
    for r in rows:
        print(f"{r['batch']:>5} " + " ".join(f"{r[f'{n}_ms_per_token']:12.1f}" for n in names)
              + f" {r['ensemble_ms_per_token']:8.1f} {r['ratio']:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
