"""Segment ensemble cost: our cached pipeline vs a seed-style re-encoding loop vs bare decoding.

Runs the quickstart reward ensemble (SmolLM2-135M + Gemma-3-270M, 32-token segments, logprob
scorer, bf16) on GSM8K test prompts and measures, side by side in one process:

  (a) our pipeline: ``Pipeline.run_batch`` with incremental, batched, KV-cached sessions;
  (b) the seed's way: every round, every member re-tokenizes and re-prefills the whole context
      (prompt + output so far) into a fresh cache, then writes its segment;
  (c) the floor: each member's bare greedy decode loop (one prefill, then one forward per token,
      plain ``DynamicCache``), producing the same number of tokens at the same batch size, with
      no scoring and no pipeline around it. Its time is the two members' loops added up.

Outputs are forced to full length (``ignore_eos``, no stop strings, no repeat guard) so every mode
does the same amount of decoding. Prints wall times, tokens encoded after the prompt per output
token per member, and the ratios a/c, b/a and batch-8 over batch-1 throughput.

    python benchmarks/bench_segment_cache.py                 # the issue's configuration
    python benchmarks/bench_segment_cache.py --quick         # fewer prompts, for a smoke run
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


class Recorder:
    """Wraps each member's ``open`` so the benchmark can read the sessions' work counters."""

    def __init__(self, pipe: Pipeline) -> None:
        self.sessions: dict[str, list] = {m.name: [] for m in pipe.members}
        for m in pipe.members:
            original = m.generator.open

            def wrapped(examples, settings, *, salt="", _orig=original, _name=m.name):
                s = _orig(examples, settings, salt=salt)
                self.sessions[_name].append(s)
                return s

            m.generator.open = wrapped  # type: ignore[method-assign]

    def encoded(self) -> dict[str, int]:
        return {k: sum(s.stats.encoded_tokens for s in v) for k, v in self.sessions.items()}

    def reset(self) -> None:
        for v in self.sessions.values():
            v.clear()


def run_ours(pipe: Pipeline, examples: list[Example], batch: int) -> tuple[float, int]:
    start = time.perf_counter()
    tokens = 0
    for group in chunks(examples, batch):
        for r in pipe.run_batch(group):
            tokens += r.usage.completion_tokens
    return time.perf_counter() - start, tokens


def run_seed_style(pipe: Pipeline, examples: list[Example], batch: int, segment: int, rounds: int,
                   settings: GenerationSettings) -> tuple[float, int, int]:
    """Each round: fresh sessions holding prompt + output so far, fully re-encoded, then a segment."""
    scorer = pipe.scorer
    assert scorer is not None
    from ensemble_cli.core.components import Candidate

    start = time.perf_counter()
    total_tokens, encoded = 0, 0
    for group in chunks(examples, batch):
        outputs = ["" for _ in group]
        done_tokens = [0 for _ in group]
        for _ in range(rounds):
            live = [i for i in range(len(group)) if done_tokens[i] < settings.max_tokens]
            if not live:
                break
            cands = []
            for m in pipe.members:
                s = m.generator.open([group[i] for i in live], settings, salt=m.name)
                s.append([outputs[i] for i in live])
                budgets = [min(segment, settings.max_tokens - done_tokens[i]) for i in live]
                segs = s.generate(budgets, ignore_eos=True)
                # everything this member fed this round was (re-)encoding except its own decoding
                encoded += s.stats.prompt_tokens + s.stats.encoded_tokens
                cands.append(segs)
            flat = [Candidate(group[i], outputs[i], m.name, cands[j][k])
                    for k, i in enumerate(live) for j, m in enumerate(pipe.members)]
            scores = scorer.score(flat)
            n = len(pipe.members)
            for k, i in enumerate(live):
                row = scores[k * n : (k + 1) * n]
                w = max(range(n), key=lambda j: (row[j], -j))
                outputs[i] += cands[w][k].text
                done_tokens[i] += len(cands[w][k].token_ids)
        total_tokens += sum(done_tokens)
    return time.perf_counter() - start, total_tokens, encoded


@torch.inference_mode()
def bare_decode(gen, examples: list[Example], batch: int, n_tokens: int) -> float:
    """One member's greedy loop: left-padded prefill, then one forward per token. No pipeline."""
    from transformers import DynamicCache

    lm = gen.loaded
    model = lm.model
    start = time.perf_counter()
    for group in chunks(examples, batch):
        prompts = [gen.prompt_ids(ex.messages) for ex in group]
        width = max(len(p) for p in prompts)
        ids = torch.full((len(group), width), lm.pad_id, dtype=torch.long)
        mask = torch.zeros((len(group), width), dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, width - len(p):] = torch.tensor(p)
            mask[i, width - len(p):] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, cache=cache, use_cache=True,
                    logits_to_keep=1)
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        for _ in range(n_tokens - 1):
            mask = torch.cat([mask, torch.ones((len(group), 1), dtype=torch.long)], dim=1)
            pos = pos[:, -1:] + 1
            out = model(input_ids=nxt, attention_mask=mask, position_ids=pos, cache=cache, use_cache=True,
                        logits_to_keep=1)
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default=str(ROOT / "recipes" / "quickstart.yaml"))
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "gsm8k" / "test.json"))
    ap.add_argument("--quick", action="store_true", help="4 prompts at 128 tokens and 1 at 512")
    ap.add_argument("--skip-seed", action="store_true", help="skip (b) at the long length")
    ap.add_argument("--only", type=int, default=None, help="run only the configuration of this length")
    ap.add_argument("--batches", default="1,8", help="batch sizes to run, comma-separated (default 1,8)")
    args = ap.parse_args()

    configs = [(8, 256), (2, 1024)] if not args.quick else [(4, 128), (1, 512)]
    if args.only:
        configs = [c for c in configs if c[1] == args.only]
    segment = 32
    print(f"torch threads={torch.get_num_threads()} OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    results = []
    for n_prompts, length in configs:
        rounds = length // segment
        resolved = load_recipe(args.recipe, [
            f"generation.max_tokens={length}", "generation.ignore_eos=true", "generation.stop=[]",
            f"aggregator.params.segment_tokens={segment}", f"aggregator.params.max_rounds={rounds}",
            "aggregator.params.repeat_guard=false",
        ])
        pipe = Pipeline(resolved)
        pipe.load()
        rec = Recorder(pipe)
        examples = gsm8k_prompts(Path(args.data), n_prompts)
        # warm-up: one short round of everything, so lazy init and allocator growth are not timed
        pipe.run_batch(examples[:1])
        for m in pipe.members:
            bare_decode(m.generator, examples[:1], 1, 4)
        rec.reset()
        for batch in [int(b) for b in args.batches.split(",")]:
            ta, tokens = run_ours(pipe, examples, batch)
            enc = rec.encoded()
            rec.reset()
            tc = sum(bare_decode(m.generator, examples, batch, length) for m in pipe.members)
            tb = eb = None
            if not (args.skip_seed and length > 256):
                tb, tb_tokens, eb = run_seed_style(pipe, examples, batch, segment, rounds, resolved.generation)
                rec.reset()
            row = {
                "prompts": n_prompts, "length": length, "batch": batch, "tokens": tokens,
                "a_s": ta, "b_s": tb, "c_s": tc, "a/c": ta / tc, "b/a": (tb / ta) if tb else None,
                "ours_reencoded_per_token_per_member": {k: v / tokens for k, v in enc.items()},
                "seed_reencoded_per_token_per_member": (eb / tokens / len(pipe.members)) if eb else None,
                "examples_per_s": n_prompts / ta,
            }
            results.append(row)
            print(json.dumps(row), flush=True)

    print("\nsummary")
    print(f"{'prompts':>7} {'len':>5} {'batch':>5} {'a s':>8} {'b s':>8} {'c s':>8} {'a/c':>6} {'b/a':>6}"
          f"  re-encoded/token/member (ours | seed)")
    for r in results:
        enc = " ".join(f"{k}={v:.3f}" for k, v in r["ours_reencoded_per_token_per_member"].items())
        seed = f"{r['seed_reencoded_per_token_per_member']:.2f}" if r["seed_reencoded_per_token_per_member"] else "-"
        b = f"{r['b_s']:8.1f}" if r["b_s"] else "       -"
        ba = f"{r['b/a']:6.2f}" if r["b/a"] else "     -"
        print(f"{r['prompts']:>7} {r['length']:>5} {r['batch']:>5} {r['a_s']:8.1f} {b} {r['c_s']:8.1f}"
              f" {r['a/c']:6.2f} {ba}  {enc} | {seed}")
    for n_prompts, length in configs:
        b1 = next((r for r in results if r["length"] == length and r["batch"] == 1), None)
        b8 = next((r for r in results if r["length"] == length and r["batch"] == 8), None)
        if b1 is None or b8 is None:
            continue
        print(f"batch-8 / batch-1 throughput at {n_prompts}x{length}: "
              f"{b8['examples_per_s'] / b1['examples_per_s']:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
