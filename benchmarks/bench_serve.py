"""``ensemble serve`` throughput: 1 client vs 8 concurrent clients, against a live local server.

For each of two recipes — a single model (SmolLM2-135M-Instruct alone, ``single`` aggregator) and
the quickstart reward ensemble (SmolLM2 + Gemma-3, 32-token segments, logprob scorer) — this starts
``ensemble serve`` on a free 127.0.0.1 port, warms it up, then runs, side by side in one process:

  (a) 1 client sending requests one after another;
  (b) 8 clients, each sending its requests one after another, all at once.

Every request is a distinct GSM8K question as a chat completion with the same ``max_tokens``; the
server runs with ``generation.ignore_eos=true`` so every answer is exactly ``max_tokens`` long and
the two phases do the same work per request. Prints requests/s, p50/p95 latency per phase and the
throughput ratio (b)/(a): the gain from the engine batching concurrent requests into shared
forward passes. Targets: ≥ 3 for the single model, ≥ 2 for the reward ensemble.

    python benchmarks/bench_serve.py            # 64 tokens; 8 requests alone, 32 with 8 clients
    python benchmarks/bench_serve.py --quick    # 16 tokens; 4 and 16 requests (a smoke run)
    python benchmarks/bench_serve.py --recipes single   # one recipe only
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
GSM8K = Path("/work/shared/data/gsm8k/test.json")


def questions(n: int) -> list[str]:
    if GSM8K.exists():
        rows = json.loads(GSM8K.read_text())
        return [r["input"] for r in rows[:n]]
    demo = [json.loads(line)["prompt"] for line in (ROOT / "data/demo.jsonl").read_text().splitlines() if line]
    return [f"{demo[i % len(demo)]} (variant {i})" for i in range(n)]


def recipes(folder: Path) -> dict[str, Path]:
    quick = yaml.safe_load((ROOT / "recipes/quickstart.yaml").read_text())
    single = {
        "name": "smol-single",
        "models": [quick["models"][0]],
        "aggregator": {"type": "single"},
        "generation": quick["generation"],
    }
    (folder / "single.yaml").write_text(yaml.safe_dump(single))
    return {"single": folder / "single.yaml", "reward": ROOT / "recipes/quickstart.yaml"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, recipe: Path, max_tokens: int, log: Path, extra: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-c", "from ensemble_cli.cli.main import main; main()", "serve", str(recipe),
               "--port", str(self.port), "--max-batch", "8", "--set", "generation.ignore_eos=true",
               "--set", f"generation.max_tokens={max_tokens}", "--set", "generation.stop=[]"]
        for override in extra:
            cmd += ["--set", override]
        self.log = log
        self.proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=os.environ.copy())
        t0 = time.perf_counter()
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited:\n{log.read_text()}")
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - t0 > 600:
                self.stop()
                raise SystemExit("server did not become ready in 600 s")
            time.sleep(0.2)
        self.ready_s = time.perf_counter() - t0

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)


def ask(base: str, prompt: str, max_tokens: int) -> float:
    body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens}
    t0 = time.perf_counter()
    r = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=900)
    r.raise_for_status()
    got = r.json()["usage"]["completion_tokens"]
    if got != max_tokens:
        raise SystemExit(f"expected {max_tokens} completion tokens, got {got}")
    return time.perf_counter() - t0


def phase(base: str, prompts: list[str], clients: int, max_tokens: int) -> dict[str, float]:
    per_client = [prompts[i::clients] for i in range(clients)]

    def client(mine: list[str]) -> list[float]:
        return [ask(base, p, max_tokens) for p in mine]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = [lat for lats in pool.map(client, per_client) for lat in lats]
    wall = time.perf_counter() - t0
    cuts = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else [latencies[0]] * 19
    return {"requests": len(latencies), "seconds": wall, "rps": len(latencies) / wall,
            "p50": statistics.median(latencies), "p95": cuts[18]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="16 tokens; 4 requests alone and 16 with 8 clients")
    ap.add_argument("--recipes", default="single,reward", help="comma-separated: single, reward")
    ap.add_argument("--max-tokens", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    max_tokens = args.max_tokens or (16 if args.quick else 64)
    alone, together = (4, 16) if args.quick else (8, 32)
    prompts = questions(1 + alone + together)
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = recipes(Path(tmp))
        for name in args.recipes.split(","):
            # equal-length answers: no stop strings, and reward may not end an answer early for repeating
            extra = ("aggregator.params.repeat_guard=false",) if name == "reward" else ()
            server = Server(paths[name], max_tokens, Path(tmp) / f"{name}.log", extra)
            try:
                print(f"[{name}] server ready in {server.ready_s:.1f} s", file=sys.stderr)
                ask(server.base, prompts[0], max_tokens)  # warm-up
                one = phase(server.base, prompts[1 : 1 + alone], 1, max_tokens)
                eight = phase(server.base, prompts[1 + alone :], 8, max_tokens)
            finally:
                server.stop()
            report[name] = {"1": one, "8": eight, "ratio": eight["rps"] / one["rps"]}

    print(f"\nensemble serve: chat completions of {max_tokens} tokens each (ignore_eos), --max-batch 8")
    print(f"{'recipe':<8} {'clients':>7} {'requests':>8} {'req/s':>8} {'tok/s':>8} {'p50 s':>7} {'p95 s':>7}")
    for name, r in report.items():
        for clients in ("1", "8"):
            p = r[clients]
            print(f"{name:<8} {clients:>7} {p['requests']:>8} {p['rps']:>8.3f} {p['rps'] * max_tokens:>8.1f} "
                  f"{p['p50']:>7.2f} {p['p95']:>7.2f}")
        target = 3 if name == "single" else 2
        print(f"{name:<8} throughput ratio 8 clients / 1 client = {r['ratio']:.2f} (target >= {target})")
    if args.json:
        args.json.write_text(json.dumps({"max_tokens": max_tokens, **report}, indent=2))


if __name__ == "__main__":
    main()
