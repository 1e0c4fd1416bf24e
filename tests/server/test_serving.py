"""Serving behaviour with real processes: concurrency without swaps, auth, queue limits, SIGTERM drain.

Most of these run the test-only ``echo`` components (output = the prompt upper-cased, optional
delay per example), so every response provably answers its own request and no model is loaded.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from live import TESTS, LiveServer, echo_recipe, launch


def _complete(server: LiveServer, prompt: str, **kw: object) -> httpx.Response:
    body = {"model": "echo", "prompt": prompt, "max_tokens": 4, **kw}
    return httpx.post(f"{server.v1}/completions", json=body, headers=server.headers(), timeout=120)


def test_200_requests_from_16_clients_each_get_their_own_answer(tmp_path: Path) -> None:
    server = launch(echo_recipe(tmp_path, delay=0.002), tmp_path / "log", "--max-batch", "8", fixtures=True)
    try:
        prompts = [f"request {i} of client {i % 16} token {i * 7919 % 1000}" for i in range(200)]
        clients = [openai.OpenAI(base_url=server.v1, api_key="x", max_retries=0) for _ in range(16)]

        def ask(i: int) -> tuple[int, str]:
            if i % 2:
                out = clients[i % 16].completions.create(model="echo", prompt=prompts[i], max_tokens=4)
                return i, out.choices[0].text
            chat = clients[i % 16].chat.completions.create(
                model="echo", messages=[{"role": "user", "content": prompts[i]}], max_tokens=4)
            return i, chat.choices[0].message.content or ""

        with ThreadPoolExecutor(16) as pool:
            answers = dict(pool.map(ask, range(200)))
        assert answers == {i: p.upper() for i, p in enumerate(prompts)}  # none lost, none swapped
        status = httpx.get(f"{server.base}/status").json()
        assert status["requests_served"] == 200 and status["requests_failed"] == 0
        assert status["batches"] < 200  # concurrent requests shared engine calls
    finally:
        assert server.stop() == 0, server.output()


def test_distinct_prompts_concurrently_match_their_answers_alone(solo: LiveServer) -> None:
    prompts = [f"Question {i}: what is {i} plus {i * 3}?" for i in range(12)]

    def ask(p: str) -> str:
        body = {"prompt": p, "max_tokens": 8, "temperature": 1.0, "seed": 5}  # seeded: reproducible
        r = httpx.post(f"{solo.v1}/completions", json=body, timeout=120)
        assert r.status_code == 200, r.text
        return r.json()["choices"][0]["text"]

    alone = [ask(p) for p in prompts]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(ask, prompts))
    assert together == alone
    assert len(set(alone)) > 1  # the prompts really lead to different answers


def test_auth_on(tmp_path: Path) -> None:
    server = launch(echo_recipe(tmp_path), tmp_path / "log", api_key="s3cret", fixtures=True)
    try:
        assert httpx.get(f"{server.base}/health").status_code == 200  # open: load balancers probe it
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            r = httpx.post(f"{server.v1}/completions", json={"prompt": "hi"}, headers=headers)
            assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
            assert httpx.get(f"{server.v1}/models", headers=headers).status_code == 401
        ok = openai.OpenAI(base_url=server.v1, api_key="s3cret", max_retries=0)
        assert ok.completions.create(model="echo", prompt="hi").choices[0].text == "HI"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=server.v1, api_key="nope", max_retries=0).models.list()
    finally:
        assert server.stop() == 0


def test_api_key_from_the_environment(tmp_path: Path) -> None:
    server = launch(echo_recipe(tmp_path), tmp_path / "log", fixtures=True, env={"ENSEMBLE_API_KEY": "from-env"})
    try:
        assert _complete(server, "hi").status_code == 401
        server.api_key = "from-env"
        assert _complete(server, "hi").json()["choices"][0]["text"] == "HI"
    finally:
        assert server.stop() == 0


def test_queue_full_is_503_and_other_requests_still_succeed(tmp_path: Path) -> None:
    server = launch(echo_recipe(tmp_path, delay=0.5), tmp_path / "log", "--max-batch", "1", "--max-queue", "1",
                    fixtures=True)
    try:
        with ThreadPoolExecutor(6) as pool:
            responses = list(pool.map(lambda i: _complete(server, f"p{i}"), range(6)))
        codes = sorted(r.status_code for r in responses)
        assert 503 in codes and 200 in codes and set(codes) <= {200, 503}
        busy = next(r for r in responses if r.status_code == 503)
        assert busy.json()["error"]["code"] == "queue_full"
        for i, r in enumerate(responses):
            if r.status_code == 200:
                assert r.json()["choices"][0]["text"] == f"P{i}"
    finally:
        assert server.stop() == 0


def test_sigterm_drains_in_flight_requests_and_exits_0(tmp_path: Path) -> None:
    server = launch(echo_recipe(tmp_path, delay=0.8), tmp_path / "log", "--max-batch", "2", fixtures=True)
    results: dict[int, httpx.Response] = {}

    def ask(i: int) -> None:
        results[i] = _complete(server, f"drain {i}")

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while httpx.get(f"{server.base}/status").json()["in_flight"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)  # every request has reached the server
    server.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(60)
    assert server.proc.wait(60) == 0, server.output()
    assert {i: r.status_code for i, r in results.items()} == {0: 200, 1: 200, 2: 200, 3: 200}
    assert all(r.json()["choices"][0]["text"] == f"DRAIN {i}" for i, r in results.items())
    assert "stopped after serving 4 request(s)" in server.output()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base}/health")


def test_bad_recipe_exits_2_before_listening(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodels: [{name: a, generator: echo-gen}]\naggregator: ech\n")
    proc = subprocess.run([sys.executable, str(TESTS / "run_fixture_cli.py"), "serve", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "did you mean 'echo'" in proc.stderr


def test_a_client_that_gives_up_is_dropped_from_the_queue(tmp_path: Path) -> None:
    server = launch(echo_recipe(tmp_path, delay=1.5), tmp_path / "log", "--max-batch", "1", fixtures=True)
    try:
        busy = threading.Thread(target=lambda: _complete(server, "first"))
        busy.start()
        time.sleep(0.3)  # "first" is running; the next request waits in the queue
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{server.v1}/completions", json={"model": "echo", "prompt": "impatient"}, timeout=0.5)
        busy.join(30)
        time.sleep(0.5)
        status = httpx.get(f"{server.base}/status").json()
        assert (status["requests_cancelled"], status["requests_served"]) == (1, 1), json.dumps(status)  # never ran
        assert _complete(server, "after").json()["choices"][0]["text"] == "AFTER"
    finally:
        assert server.stop() == 0


def test_a_model_that_cannot_load_stops_the_server_with_its_error(tmp_path: Path) -> None:
    recipe = tmp_path / "broken.yaml"
    empty = tmp_path / "empty-model"  # a folder (so the recipe is valid) without any weights in it
    empty.mkdir()
    recipe.write_text(f"name: broken\nmodels: [{{name: a, generator: hf, params: {{model: {empty}}}}}]\n"
                      "aggregator: single\n")
    server = launch(recipe, tmp_path / "log", wait=False)
    assert server.proc.wait(120) == 1
    assert f"error: cannot load model '{empty}'" in server.output()
