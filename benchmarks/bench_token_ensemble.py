"""Token-level ensemble cost: ``union`` and ``topk-union`` against running the two members alone.

SmolLM2-135M-Instruct + Gemma-3-270M, bf16, CPU, GSM8K test prompts, measured side by side in one
process (so a busy machine distorts every column alike):

  * each member alone: its own ``HFSessionBatch.generate`` (the same session code the ensemble
    steps), greedy, the same number of new tokens at the same batch size;
  * ``union`` and ``topk-union`` through ``Pipeline.run_batch`` with the recipes' members;
  * ``union`` gated (``primary: smol, threshold: 0.9``): share of steps that were ensembled and
    the speed-up over ungated ``union``, twice: with sub-batches (the default: gemma runs only for
    the rows that need it) and whole-batch (``gate_sub_batch: false``: gemma runs for every row
    whenever one needs it), and the sub-batch gate's speed-up over the whole-batch one;
  * mixture sampling (``recipes/token-union-mixture.yaml``: each token drawn from one member picked by
    weight, temperature 1): its ratio and the share of tokens each member wrote. It samples where the
    other columns are greedy (a softmax per step more, and different text), so it is a cost figure,
    not an output comparison; and again with ``draws: shared`` (``mixture-shared``: rows at the same
    position draw the same member, so one forward writes for the whole batch);
  * speculative ``union`` (``recipes/token-union-speculative.yaml``: smol drafts up to 4 tokens, gemma
    verifies them in one forward): its ratio, acceptance rate, mean draft length, and how many of its
    outputs are identical to plain ``union``'s (greedy: the same up to bf16 rounding, which differs
    between a k-token verification forward and k single steps; with ``--deterministic`` a token's
    logits do not depend on how its text was split into forwards, so all of them).

Outputs are forced to full length (``ignore_eos``, no stop strings) so every mode writes the same
number of tokens. Prints time per generated token and ratio = ensemble / (smol alone + gemma alone).

Each batch size makes ``--repeats`` timed passes over the prompts (default 3); within a pass every
mode runs on each group in turn, in an order that rotates from pass to pass, and each mode's figure
is its median pass. One pass at batch 8 is a single ~15 s run per mode, and a run-to-run wobble of
that size on a shared 2-core machine is as large as the overhead being measured.

    python benchmarks/bench_token_ensemble.py           # the issue's configuration: 8 prompts, 128 tokens
    python benchmarks/bench_token_ensemble.py --quick   # 2 prompts, 32 tokens: a smoke run
    python benchmarks/bench_token_ensemble.py --batches 8 --repeats 5   # one batch size, more passes
    python benchmarks/bench_token_ensemble.py --modes mixture,mixture-shared   # some modes (+ the members)
    python benchmarks/bench_token_ensemble.py --modes speculative --deterministic   # same text as union in bf16
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
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


def add_workload_arguments(ap: argparse.ArgumentParser, repeats: int) -> None:
    """The prompts, lengths, batch sizes and passes both token-level benchmarks take."""
    default_data = next((p / "shared" / "data" / "gsm8k" / "test.json" for p in ROOT.parents
                         if (p / "shared" / "data" / "gsm8k" / "test.json").exists()), None)
    ap.add_argument("--data", default=str(default_data or ROOT.parent / "shared" / "data" / "gsm8k" / "test.json"))
    ap.add_argument("--quick", action="store_true", help="2 prompts, 32 tokens")
    ap.add_argument("--batches", default="1,8", help="batch sizes, comma-separated (default 1,8)")
    ap.add_argument("--prompts", type=int, default=None)
    ap.add_argument("--tokens", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=repeats, help="timed passes per batch size; the median is kept")


def chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


MODES = ("union", "topk-union", "gated", "gated-whole", "speculative", "mixture", "mixture-shared")


def cell(row: dict, key: str, spec: str) -> str:
    """``row[key]`` formatted, or a dash (right-aligned to the spec's width) for a mode not run."""
    digits = "".join(itertools.takewhile(str.isdigit, spec))
    width = int(digits) if digits else 0
    return format(row[key], spec) if key in row else "-".rjust(width)


#: ``--deterministic``: every pipeline and member session in the batch-invariant mode
INVARIANT: list[str] = []


def pipeline(method: str, length: int, extra: list[str] = ()) -> Pipeline:
    names = {"union": "token-union.yaml", "speculative": "token-union-speculative.yaml",
             "mixture": "token-union-mixture.yaml"}
    recipe = ROOT / "recipes" / names.get(method, "token-topk.yaml")
    resolved = load_recipe(str(recipe), [
        f"generation.max_tokens={length}", "generation.ignore_eos=true", "generation.stop=[]",
        "aggregator.params.weights=uniform", *INVARIANT, *extra,
    ])
    pipe = Pipeline(resolved)
    pipe.load()
    return pipe


def time_alone(pipe: Pipeline, group: list[Example], length: int) -> dict[str, float]:
    settings = GenerationSettings(max_tokens=length, ignore_eos=True, batch_invariant=bool(INVARIANT))
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
    add_workload_arguments(ap, repeats=3)
    ap.add_argument("--modes", default=",".join(MODES),
                    help=f"ensemble modes to time beside the members (union always runs: the reference); "
                         f"default all: {','.join(MODES)}")
    ap.add_argument("--deterministic", action="store_true",
                    help="every mode and member in the batch-invariant mode (generation.batch_invariant): "
                         "speculative union then writes exactly plain union's text in bf16 too")
    args = ap.parse_args()
    if args.deterministic:
        INVARIANT.append("generation.batch_invariant=true")
    n_prompts = args.prompts or (2 if args.quick else 8)
    length = args.tokens or (32 if args.quick else 128)
    examples = gsm8k_prompts(Path(args.data), n_prompts)
    print(f"torch threads={torch.get_num_threads()} OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} "
          f"prompts={n_prompts} tokens={length} deterministic={args.deterministic}")
    chosen = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(chosen) - set(MODES))
    if unknown:
        ap.error(f"--modes: unknown {', '.join(unknown)} (choose from {', '.join(MODES)})")
    gate = ["aggregator.params.primary=smol", "aggregator.params.threshold=0.9"]
    build = {
        "union": lambda: pipeline("union", length),
        "topk-union": lambda: pipeline("topk", length),
        "gated": lambda: pipeline("union", length, [*gate, "aggregator.params.gate_sub_batch=true"]),
        "gated-whole": lambda: pipeline("union", length, [*gate, "aggregator.params.gate_sub_batch=false"]),
        "speculative": lambda: pipeline("speculative", length),
        "mixture": lambda: pipeline("mixture", length),
        "mixture-shared": lambda: pipeline("mixture", length, ["aggregator.params.draws=shared"]),
    }
    pipes = {name: build[name]() for name in MODES if name in chosen or name == "union"}
    # warm-up: lazy init, the union vocabulary, allocator growth
    for p in pipes.values():
        p.run_batch(examples[:1])
    time_alone(pipes["union"], examples[:1], 4)
    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        # every mode runs on each group in turn, so load changes on a shared machine hit all alike
        modes = ["alone", *pipes]
        passes: list[dict[str, float]] = []
        gated_share: list[float] = []
        mixture_summary: dict[str, list[dict]] = {"mixture": [], "mixture-shared": []}
        outputs: dict[str, dict[str, str]] = {"union": {}, "speculative": {}}
        speculation: list[dict] = []
        for rep in range(args.repeats):
            times = dict.fromkeys(("smol", "gemma", *pipes), 0.0)
            order = modes[rep % len(modes):] + modes[: rep % len(modes)]
            for group in chunks(examples, batch):
                for name in order:
                    if name == "alone":
                        for k, v in time_alone(pipes["union"], group, length).items():
                            times[k] += v
                        continue
                    t, res = time_ensemble(pipes[name], group)
                    assert all(r.rounds == length for r in res), name
                    times[name] += t
                    if name == "gated" and rep == 0:
                        gated_share.extend(r.summary["gated_share"] for r in res)
                    if name in outputs and rep == 0:
                        outputs[name].update((r.id, r.output) for r in res)
                    if name == "speculative" and rep == 0:
                        speculation.extend(r.summary["speculation"] for r in res)
                    if name in mixture_summary and rep == 0:
                        mixture_summary[name].extend({**r.summary["won_share"], **r.summary["mixture"]} for r in res)
            passes.append(times)
        times = {k: statistics.median(p[k] for p in passes) for k in passes[0]}
        tokens = n_prompts * length
        row = {"batch": batch, "tokens": tokens, **{f"{k}_ms_per_token": 1000 * v / tokens for k, v in times.items()}}
        # ratios pair each pass's own measurements (taken minutes apart at most), then the median
        for name in pipes:
            per_pass = [p[name] / (p["smol"] + p["gemma"]) for p in passes]
            row[f"{name}_ratio"] = statistics.median(per_pass)
            row[f"{name}_ratio_per_pass"] = [round(x, 3) for x in per_pass]
        if "gated" in pipes:
            row["gated_ensembled_share"] = 1 - sum(gated_share) / len(gated_share)
            row["gated_speedup_over_union"] = statistics.median(p["union"] / p["gated"] for p in passes)
        if "gated-whole" in pipes:
            row["gated_whole_speedup_over_union"] = statistics.median(p["union"] / p["gated-whole"] for p in passes)
        if "gated" in pipes and "gated-whole" in pipes:
            row["gated_sub_over_whole"] = statistics.median(p["gated-whole"] / p["gated"] for p in passes)
        for name, summary in mixture_summary.items():
            if name not in pipes:
                continue
            row[f"{name}_speedup_over_union"] = statistics.median(p["union"] / p[name] for p in passes)
            row[f"{name}_smol_share"] = statistics.mean(m["smol"] for m in summary)
            row[f"{name}_rejected"] = sum(m["rejected"] for m in summary)
            row[f"{name}_merged_steps"] = sum(m["merged_steps"] for m in summary)
            row[f"{name}_waited_steps"] = sum(m["waited_steps"] for m in summary)
        if "speculative" in pipes:
            row["speculative_speedup_over_union"] = statistics.median(p["union"] / p["speculative"] for p in passes)
            row["speculative_identical"] = sum(outputs["speculative"][k] == v for k, v in outputs["union"].items())
            row["speculative_outputs"] = len(outputs["union"])
            drafted = sum(s["drafted"] for s in speculation)
            row["speculative_acceptance"] = sum(s["accepted"] for s in speculation) / max(drafted, 1)
            row["speculative_mean_draft"] = drafted / max(sum(s["rounds"] for s in speculation), 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\nsummary (ms per generated token; ratio = ensemble / (smol alone + gemma alone); - : not run)")
    print(f"{'batch':>5} {'smol':>7} {'gemma':>7} {'union':>7} {'ratio':>6} {'topk':>7} {'ratio':>6}"
          f" {'gated':>7} {'ensembled':>9} {'speed-up':>8} {'spec':>7} {'ratio':>6} {'accept':>6} {'draft':>5}"
          f" {'same':>5}")
    for r in rows:
        same = f"{r['speculative_identical']:>2}/{r['speculative_outputs']:<2}" if "speculative_outputs" in r else "-"
        print(f"{r['batch']:>5} {cell(r, 'smol_ms_per_token', '7.1f')} {cell(r, 'gemma_ms_per_token', '7.1f')}"
              f" {cell(r, 'union_ms_per_token', '7.1f')} {cell(r, 'union_ratio', '6.2f')}"
              f" {cell(r, 'topk-union_ms_per_token', '7.1f')} {cell(r, 'topk-union_ratio', '6.2f')}"
              f" {cell(r, 'gated_ms_per_token', '7.1f')} {cell(r, 'gated_ensembled_share', '9.2f')}"
              f" {cell(r, 'gated_speedup_over_union', '8.2f')} {cell(r, 'speculative_ms_per_token', '7.1f')}"
              f" {cell(r, 'speculative_ratio', '6.2f')} {cell(r, 'speculative_acceptance', '6.2f')}"
              f" {cell(r, 'speculative_mean_draft', '5.2f')} {same}")

    print("\ngate with sub-batches vs whole-batch, and mixture sampling (same units)")
    print(f"{'batch':>5} {'gated':>7} {'ratio':>6} {'whole':>7} {'ratio':>6} {'sub/whole':>9}"
          f" {'mixture':>7} {'ratio':>6} {'vs union':>8} {'smol wrote':>10} {'shared':>7} {'ratio':>6} {'waited':>6}")
    for r in rows:
        print(f"{r['batch']:>5} {cell(r, 'gated_ms_per_token', '7.1f')} {cell(r, 'gated_ratio', '6.2f')}"
              f" {cell(r, 'gated-whole_ms_per_token', '7.1f')} {cell(r, 'gated-whole_ratio', '6.2f')}"
              f" {cell(r, 'gated_sub_over_whole', '9.2f')} {cell(r, 'mixture_ms_per_token', '7.1f')}"
              f" {cell(r, 'mixture_ratio', '6.2f')} {cell(r, 'mixture_speedup_over_union', '8.2f')}"
              f" {cell(r, 'mixture_smol_share', '10.2f')} {cell(r, 'mixture-shared_ms_per_token', '7.1f')}"
              f" {cell(r, 'mixture-shared_ratio', '6.2f')} {cell(r, 'mixture-shared_waited_steps', '6d')}")


if __name__ == "__main__":
    sys.exit(main())
