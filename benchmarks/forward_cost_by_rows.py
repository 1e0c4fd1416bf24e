"""What one decode step costs by the number of rows it runs: why per-row skipping rarely pays on a CPU.

A token-level ensemble saves work by not running a member for some rows: the gate's sub-batches
(``gate_sub_batch``) run the second member only for the rows the primary is unsure of, and mixture
sampling (``mode: mixture``) could run each member only for the rows that drew it. That saving is
real only if a forward over fewer rows costs less. This script measures it for the token-union
members (SmolLM2-135M-Instruct, Gemma-3-270M; bf16, CPU) on GSM8K prompts:

  * ``whole k``: a session of ``k`` rows, one decode step over all of them (``next_logits()`` then
    ``feed`` of the argmax), for k in ``--rows`` (default 1,2,4,8);
  * ``sub k/8``: a session of 8 rows, one decode step over its first ``k`` rows only
    (``next_logits(rows=...)``, the sub-batch path: the rows' caches are copied out and back).

Prints milliseconds per step (median of ``--repeats`` passes of ``--steps`` steps; passes rotate over
the configurations so a busy machine hits all alike) and each figure over the 1-row step. If a step
over 8 rows costs about 1.5x one row, then running a member for 1 row instead of 8 saves a third of
its step, not seven eighths, and a member that any row of a batch of 8 needs almost always runs.

    python benchmarks/forward_cost_by_rows.py                  # 1,2,4,8 rows, 24 steps, 3 passes
    python benchmarks/forward_cost_by_rows.py --quick          # 1,8 rows, 8 steps, 1 pass
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from ensemble_cli.core.pipeline import Pipeline
from ensemble_cli.core.types import Example, GenerationSettings
from ensemble_cli.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]


def prompts(path: Path, n: int) -> list[Example]:
    rows = json.loads(path.read_text())
    return [Example(f"gsm8k-{i}", [{"role": "user", "content": r["input"]}]) for i, r in enumerate(rows[:n])]


def step_time(member, examples: list[Example], run_rows: list[int] | None, steps: int) -> float:
    """Seconds per decode step of ``member`` over ``run_rows`` (None: every row) of a fresh session."""
    session = member.generator.open(examples, GenerationSettings(max_tokens=steps), salt=member.name)
    n = len(examples)
    first = session.next_logits()  # every row's prompt prefilled (a gate's other rows hold caches too), not timed
    session.feed([[t] for t in first.argmax(dim=-1).tolist()], [None] * n)
    start = time.perf_counter()
    for _ in range(steps):
        logits = session.next_logits(run_rows)
        chosen = logits.argmax(dim=-1).tolist()
        ran = run_rows if run_rows is not None else list(range(n))
        ids: list[list[int] | None] = [None] * n
        for r, t in zip(ran, chosen, strict=True):
            ids[r] = [t]
        session.feed(ids, [None] * n)  # text is not needed to time the forward
    return (time.perf_counter() - start) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = next((p / "shared" / "data" / "gsm8k" / "test.json" for p in ROOT.parents
                         if (p / "shared" / "data" / "gsm8k" / "test.json").exists()), None)
    ap.add_argument("--data", default=str(default_data or ROOT.parent / "shared" / "data" / "gsm8k" / "test.json"))
    ap.add_argument("--rows", default="1,2,4,8",
                    help="row counts, comma-separated (the sub-batch session has the largest)")
    ap.add_argument("--steps", type=int, default=24, help="timed decode steps per pass")
    ap.add_argument("--repeats", type=int, default=3, help="passes; the median is kept")
    ap.add_argument("--quick", action="store_true", help="1,8 rows, 8 steps, 1 pass")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.steps, args.repeats = "1,8", 8, 1
    counts = [int(k) for k in args.rows.split(",")]
    big = max(counts)
    examples = prompts(Path(args.data), big)
    resolved = load_recipe(str(ROOT / "recipes" / "token-union.yaml"), [])
    pipe = Pipeline(resolved)
    pipe.load()
    print(f"torch threads={torch.get_num_threads()} OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} "
          f"steps={args.steps} passes={args.repeats}")
    configs = [(f"whole {k}", k, None) for k in counts] + [
        (f"sub {k}/{big}", big, list(range(k))) for k in counts if k < big]
    for member in pipe.members:
        for _, k, sub in configs:  # warm-up: allocator growth, lazy init
            step_time(member, examples[:k], sub, 2)
        times: dict[str, list[float]] = {name: [] for name, _, _ in configs}
        for rep in range(args.repeats):
            order = configs[rep % len(configs):] + configs[: rep % len(configs)]
            for name, k, sub in order:
                times[name].append(step_time(member, examples[:k], sub, args.steps))
        one = statistics.median(times[configs[0][0]])
        print(f"\n{member.name}: ms per decode step (median), and over the {counts[0]}-row step")
        for name, _, _ in configs:
            t = statistics.median(times[name])
            print(f"  {name:<10} {t * 1000:8.1f} ms   {t / one:5.2f}x")


if __name__ == "__main__":
    main()
