"""Where does a row's result start to depend on its batch? Per-op evidence for the hf sessions.

Runs one row through the real session code (``HFSessionBatch``: chunked prefill, right-aligned
left-padded cache, one decode forward per token) twice: alone, and as one row of a batch of 8 with
prompts of other lengths. Forward hooks on every module record that row's slice of each module's
input and output at every forward call; the script then prints, per forward (prefill, decode 1, …)

  * the first module, in execution order, whose *output* differs while its *input* is identical:
    the op that introduces the difference (attention is seen through ``o_proj``'s input: the
    attention core's output, after the q/k/v projections and rotary embedding);
  * per layer, the max |difference| of the main ops' outputs.

Then it isolates the suspects on synthetic tensors of the model's shapes: ``F.linear`` at M=1 vs
M=8 (and the prefill's M), RMSNorm, ``scaled_dot_product_attention`` with the key padding of a
batch, and ``logsumexp``/``log_softmax`` over the vocabulary.

    python benchmarks/batch_invariance_probe.py                       # both default models, bf16
    python benchmarks/batch_invariance_probe.py --model gemma3-270m --dtype float32
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from typing import Any

import torch
import torch.nn.functional as F

from ensemble_cli.core.types import Example, GenerationSettings
from ensemble_cli.generators.hf import HFConfig, HFGenerator

PROMPTS = [
    "Tom has 3 apples and buys 5 more. How many apples does he have now?",
    "Name a colour.",
    "A class of 24 students is split into groups of 4. How many groups are there? Explain each step.",
    "Write one long sentence about the sea, the wind, the waves and the boats that cross them at night.",
    "2+2?",
    "There are 4 boxes with 6 eggs in each box. How many eggs are there in total?",
    "Sara had 20 stickers and gave 6 to her friend. How many stickers does she have left now, "
    "after she also bought 3 more at the shop on Sunday?",
    "Say hi.",
]
TARGET = 0  # the probed row: shorter than the longest prompt, so it is left-padded in the batch


class Recorder:
    """Forward hooks that keep row ``row``'s slice of every module's first input and output."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.row = 0
        self.real = 0  # real tokens of the row in the current chunk (its first columns)
        self.calls: list[list[tuple[str, torch.Tensor | None, torch.Tensor | None]]] = []
        self.handles = [m.register_forward_hook(self._hook(name), with_kwargs=True)
                        for name, m in model.named_modules() if name]
        self.handles.append(model.register_forward_pre_hook(self._start))

    def _start(self, module: Any, args: Any) -> None:
        self.calls.append([])

    def _slice(self, t: Any) -> torch.Tensor | None:
        if isinstance(t, (tuple, list)):
            t = t[0] if t else None
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.dim() < 2:
            return None
        if t.dim() >= 3 and t.shape[1] >= self.real:
            return t[self.row, : self.real].detach().float().clone()
        return t[self.row].detach().float().clone()

    def _hook(self, name: str) -> Any:
        def hook(module: Any, args: Any, kwargs: Any, output: Any) -> None:
            first = args[0] if args else next((v for v in kwargs.values() if isinstance(v, torch.Tensor)), None)
            self.calls[-1].append((name, self._slice(first), self._slice(output)))
        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def run_session(
    gen: HFGenerator, rows: list[int], target: int, n_tokens: int, rec: Recorder, invariant: bool
) -> Any:
    """Prefill + ``n_tokens`` greedy decode steps for ``rows``; record row ``target``'s activations."""
    examples = [Example(f"p{i}", [{"role": "user", "content": PROMPTS[i]}]) for i in rows]
    s = gen.open(examples, GenerationSettings(max_tokens=n_tokens, batch_invariant=invariant))
    rec.row = rows.index(target)
    rec.real = len(s.token_ids(rec.row)) - 1  # the prefill feeds all but the last prompt token
    orig = s._forward

    def forward(input_ids, position_ids, real, *, logits_to_keep):  # noqa: ANN001
        rec.real = real[rec.row]
        return orig(input_ids, position_ids, real, logits_to_keep=logits_to_keep)

    s._forward = forward  # type: ignore[method-assign]
    seg = s.generate(n_tokens, ignore_eos=True)[rec.row]
    return seg


def diff(a: torch.Tensor | None, b: torch.Tensor | None) -> float | None:
    if a is None or b is None or a.shape != b.shape:
        return None
    return (a - b).abs().max().item()


MAIN_OPS = ("input_layernorm", "q_proj", "k_proj", "v_proj", "o_proj<in", "o_proj", "post_attention_layernorm",
            "pre_feedforward_layernorm", "gate_proj", "up_proj", "down_proj<in", "down_proj",
            "post_feedforward_layernorm")


def report_forward(k: int, alone: list, batched: list) -> None:
    label = "prefill" if k == 0 else f"decode {k}"
    culprits = []
    per_layer: dict[str, dict[str, float]] = defaultdict(dict)
    tail: dict[str, float] = {}
    for (name, ia, oa), (name_b, ib, ob) in zip(alone, batched, strict=False):
        assert name == name_b, (name, name_b)
        din, dout = diff(ia, ib), diff(oa, ob)
        if din == 0.0 and dout:
            culprits.append(f"{name} ({dout:.3g})")
        m = re.search(r"layers\.(\d+)\.(.*)", name)
        if m:
            op = m.group(2).split(".")[-1]
            if dout is not None:
                per_layer[m.group(1)][op] = dout
            if op in ("o_proj", "down_proj") and din is not None:
                per_layer[m.group(1)][op + "<in"] = din
        elif dout is not None:
            tail[name] = dout
    first = next((c for c in culprits), "none: every op gives identical results")
    print(f"  [{label}] first op with identical input but different output: {first}")
    if len(culprits) > 1:
        print(f"     also: {', '.join(culprits[1:6])}{' …' if len(culprits) > 6 else ''}")
    if k == 0 or any(v for layer in per_layer.values() for v in layer.values()):
        shown = [op for op in MAIN_OPS if any(op in layer for layer in per_layer.values())]
        print("     layer " + " ".join(f"{op[:11]:>11}" for op in shown))
        for idx in sorted(per_layer, key=int)[:: max(1, len(per_layer) // 6)]:
            print(f"     {idx:>5} " + " ".join(f"{per_layer[idx].get(op, float('nan')):11.3g}" for op in shown))
        print("     " + ", ".join(f"{n}: {v:.3g}" for n, v in tail.items() if n.split(".")[-1] in ("norm", "lm_head")))


def probe_model(alias: str, dtype: str, n_tokens: int, invariant: bool) -> None:
    gen = HFGenerator(HFConfig(model=alias, dtype=dtype))
    model = gen.loaded.model
    mode = "batch-invariant forwards" if invariant else f"attn_implementation={model.config._attn_implementation}"
    print(f"\n== {alias} ({dtype}, {mode}) ==")
    rec = Recorder(model)
    try:
        solo = run_session(gen, [TARGET], TARGET, n_tokens, rec, invariant)
        alone, rec.calls = rec.calls, []
        rows = list(range(len(PROMPTS)))
        batch = run_session(gen, rows, TARGET, n_tokens, rec, invariant)
        batched = rec.calls
    finally:
        rec.remove()
    same = solo.token_ids == batch.token_ids
    lp = max(abs(a - b) for a, b in zip(solo.logprobs, batch.logprobs, strict=False))
    print(f"  row {TARGET} alone vs in a batch of {len(PROMPTS)}: tokens {'identical' if same else 'DIFFER'}, "
          f"max |Δ log-prob| {lp:.3g}")
    for k, (a, b) in enumerate(zip(alone, batched, strict=True)):
        if k <= 2 or k == len(alone) - 1:
            report_forward(k, a, b)
    if not invariant:
        isolate(model, dtype)


def isolate(model: Any, dtype: str) -> None:
    """The suspects alone, on random tensors of this model's shapes."""
    dt = getattr(torch, dtype)
    cfg = model.config
    hidden, vocab = cfg.hidden_size, cfg.vocab_size
    g = torch.Generator().manual_seed(0)
    print("  isolated ops (max |row alone - row in batch|):")
    x = torch.randn(512, hidden, generator=g).to(dt)
    for name, mod in [("q_proj", model.model.layers[0].self_attn.q_proj),
                      ("gate_proj", model.model.layers[0].mlp.gate_proj),
                      ("down_proj", model.model.layers[0].mlp.down_proj),
                      ("lm_head", model.get_output_embeddings())]:
        inp = x if mod.in_features == hidden else torch.randn(512, mod.in_features, generator=g).to(dt)
        with torch.inference_mode():
            ref = F.linear(inp[:1], mod.weight)
            res = {m: diff(ref.float(), F.linear(inp[:m], mod.weight)[:1].float()) for m in (2, 8, 16, 40, 128, 512)}
        print(f"    linear {name:9} [{mod.in_features}->{mod.out_features}] M=1 vs M=" +
              ", ".join(f"{m}: {v:.3g}" for m, v in res.items()))
    norm = model.model.layers[0].input_layernorm
    with torch.inference_mode():
        print(f"    {type(norm).__name__}: rows 1 vs 8: {diff(norm(x[:1]).float(), norm(x[:8])[:1].float()):.3g}")
    # attention: one query row over L keys alone, vs the same keys left-padded to W in a batch of 8
    heads, kv = cfg.num_attention_heads, cfg.num_key_value_heads
    hd = getattr(cfg, "head_dim", None) or hidden // heads
    with torch.inference_mode():
        for L, W, tq in [(37, 90, 1), (37, 90, 5), (300, 700, 1), (37, 37, 1)]:
            q = torch.randn(1, heads, tq, hd, generator=g).to(dt)
            k = torch.randn(1, kv, L, hd, generator=g).to(dt)
            v = torch.randn(1, kv, L, hd, generator=g).to(dt)
            causal = torch.ones(tq, L, dtype=torch.bool).tril(L - tq)
            ref = F.scaled_dot_product_attention(q, k, v, attn_mask=causal[None, None], enable_gqa=True)
            kb = torch.randn(8, kv, W, hd, generator=g).to(dt)
            vb = torch.randn(8, kv, W, hd, generator=g).to(dt)
            qb = torch.randn(8, heads, tq, hd, generator=g).to(dt)
            kb[0, :, W - L:], vb[0, :, W - L:], qb[0] = k[0], v[0], q[0]
            mask = torch.zeros(8, 1, tq, W, dtype=torch.bool)
            mask[0, 0, :, W - L:] = causal
            mask[1:] = True
            out = F.scaled_dot_product_attention(qb, kb, vb, attn_mask=mask, enable_gqa=True)
            d = diff(ref[0].float(), out[0].float())
            print(f"    sdpa q={tq} keys {L} alone vs left-padded to {W} in a batch of 8: {d:.3g}")
        logits = torch.randn(16, vocab, generator=g).to(dt).float()
        print(f"    logsumexp / log_softmax over {vocab}: rows 1 vs 16: "
              f"{diff(torch.logsumexp(logits[:1], -1), torch.logsumexp(logits, -1)[:1]):.3g} / "
              f"{diff(torch.log_softmax(logits[:1], -1), torch.log_softmax(logits, -1)[:1]):.3g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", help="alias (repeatable); default: both default models")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32", "float16"])
    ap.add_argument("--tokens", type=int, default=6, help="decode steps to compare")
    ap.add_argument("--invariant", action="store_true", help="run the sessions with generation.batch_invariant")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for alias in args.model or ["smollm2-135m-instruct", "gemma3-270m"]:
        probe_model(alias, args.dtype, args.tokens, args.invariant)


if __name__ == "__main__":
    main()
