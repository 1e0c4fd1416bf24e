"""Integration tier: ``ensemble serve`` on the quickstart recipe with the real offline models."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from live import LiveServer, launch  # noqa: E402

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    log = tmp_path_factory.mktemp("serve-real") / "server.log"
    live = launch(ROOT / "recipes/quickstart.yaml", log, "--set", "generation.max_tokens=24", timeout=600)
    yield live
    assert live.stop(signal.SIGTERM) == 0, live.output()


def test_chat_stream_and_attribution(server: LiveServer) -> None:
    client = openai.OpenAI(base_url=server.v1, api_key="x", max_retries=0, timeout=300)
    messages = [{"role": "user", "content": "Tom has 3 apples and buys 5 more. How many apples does he have?"}]
    out = client.chat.completions.create(model="quickstart", messages=messages)
    text = out.choices[0].message.content
    assert text.strip() and out.usage.completion_tokens <= 24
    attribution = out.model_extra["ensemble"]["choices"][0]["attribution"]
    assert "".join(a["text"] for a in attribution) == text and {a["model"] for a in attribution} <= {"smol", "gemma"}
    streamed = "".join(c.choices[0].delta.content or "" for c in
                       client.chat.completions.create(model="quickstart", messages=messages, stream=True)
                       if c.choices)
    assert streamed == text


def test_loglikelihood_prefers_the_true_continuation(server: LiveServer) -> None:
    client = openai.OpenAI(base_url=server.v1, api_key="x", max_retries=0, timeout=300)
    scores = {}
    for city in (" Paris", " Tokyo"):
        out = client.completions.create(model="smol", prompt=f"The capital of France is{city}", max_tokens=0,
                                        echo=True, logprobs=1)
        scores[city] = out.choices[0].logprobs.token_logprobs[-1]
    assert scores[" Paris"] > scores[" Tokyo"]
