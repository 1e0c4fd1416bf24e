"""The ``openai`` generator against a live local OpenAI-compatible server (``tests/remote_server.py``:
FastAPI + uvicorn on 127.0.0.1 serving a tiny random-weight Llama with the real SmolLM2 tokenizer).

Segments and log-probs are compared with the ``hf`` sessions on the same model; faults (503s, slow
answers, refused connections, a wrong key) are injected into the real server.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ensemble_cli.aggregators.reward import RewardAggregator, RewardConfig
from ensemble_cli.core.components import EnsembleContext, Member
from ensemble_cli.core.pool import ModelPool, spec_key
from ensemble_cli.core.types import Example, GenerationSettings
from ensemble_cli.errors import ModelLoadError
from ensemble_cli.generators.openai import OpenAIConfig, OpenAIGenerator, connect
from ensemble_cli.generators.openai_client import RemoteError
from ensemble_cli.scorers.logprob import LogprobScorer
from remote_server import serve
from tiny_models import make_generator, tiny_llama

EXAMPLES = [
    Example("a", [{"role": "user", "content": "What is 2+3? Explain step by step."}]),
    Example("b", [{"role": "user", "content": "Name a colour."}]),
]
SETTINGS = GenerationSettings(max_tokens=24)


@pytest.fixture(scope="module")
def tiny():
    return tiny_llama()


@pytest.fixture
def server(tiny):
    model, tok = tiny
    with serve(model, tok) as (url, state):
        yield url, state


def remote(url: str, tok=None, **params) -> OpenAIGenerator:
    """An ``openai`` member; with ``tok``, that tokenizer renders the chat template (as ``tokenizer:``)."""
    cfg = OpenAIConfig(base_url=url, model="tiny", backoff=0.01, **params)
    pool = ModelPool()
    handle = connect(cfg)
    handle.tokenizer = tok
    pool.get(spec_key("openai", cfg), lambda: handle)
    return OpenAIGenerator(cfg, pool)


def test_segment_equals_hf_session(tiny, server):
    """Same model behind HTTP: same text, token count, finish reason and log-probs as local ``hf``."""
    model, tok = tiny
    url, state = server
    local = make_generator(model, tok, "llama").open(EXAMPLES, SETTINGS).generate(12)
    sessions = remote(url, tok).open(EXAMPLES, SETTINGS)
    segs = sessions.generate(12)
    for want, got in zip(local, segs, strict=True):
        assert got.text == want.text
        assert len(got.token_ids) == len(want.token_ids) and set(got.token_ids) == {-1}
        assert got.finish_reason == want.finish_reason
        assert got.logprobs == pytest.approx(want.logprobs, abs=1e-4)
    # the prompt went out chat-templated (ChatML), one request per row, concurrently
    assert len(state.requests) == 2
    assert state.requests[0]["prompt"].startswith("<|im_start|>") and state.requests[0]["logprobs"] == 0
    assert sessions.prompt_length(0) == len(make_generator(model, tok, "llama").prompt_ids(EXAMPLES[0].messages))


def test_rounds_resend_the_accumulated_text(tiny, server):
    """Multi-round reward with a remote member: each round's prompt is the prompt plus the output so far."""
    _, tok = tiny
    url, state = server
    member = Member("r", remote(url, tok))
    agg = RewardAggregator(RewardConfig(segment_tokens=6, max_rounds=4, repeat_guard=False))
    ctx = EnsembleContext([member], LogprobScorer(), GenerationSettings(max_tokens=24, ignore_eos=True))
    [result] = agg.run(EXAMPLES[:1], ctx)
    assert result.rounds == 4 and result.finish_reason == "length"
    prompts = [r["prompt"] for r in state.requests]
    assert len(prompts) == 4
    done = ""
    for prompt, part in zip(prompts, result.attribution, strict=True):
        assert prompt == prompts[0] + done
        done += part.text
    assert done == result.output and all(r["ignore_eos"] is True for r in state.requests)


def test_top_logprobs_and_partial_rollback(tiny, server):
    _, tok = tiny
    url, _ = server
    sessions = remote(url, tok, logprobs=3).open(EXAMPLES[:1], SETTINGS)
    [seg] = sessions.generate(8, ignore_eos=True)
    assert len(seg.top_logprobs) == len(seg.logprobs) == 8
    for chosen, alternatives in zip(seg.logprobs, seg.top_logprobs, strict=True):
        assert len(alternatives) == 3 and chosen <= max(alternatives.values()) + 1e-6
    pieces = [tok.decode([t]) for t in tok.encode(seg.text, add_special_tokens=False)]
    assert sessions.text(0) == seg.text
    sessions.rollback(0, 3)
    assert seg.text.startswith(sessions.text(0)) and len(sessions.text(0)) < len(seg.text)
    assert pieces  # the segment decoded to real text
    sessions.rollback(0, 5)
    assert sessions.text(0) == ""


def test_chat_endpoint_continues_with_vllm_extension(tiny, server):
    """``endpoint: chat``: the text so far goes as a final assistant message; with vLLM's
    ``continue_final_message`` the server continues it (the documented way round the chat API)."""
    model, tok = tiny
    url, state = server
    extra = {"continue_final_message": True, "add_generation_prompt": False}
    sessions = remote(url, None, endpoint="chat", logprobs=2, extra_body=extra).open(EXAMPLES[:1], SETTINGS)
    first = sessions.generate(5, ignore_eos=True)[0]
    assert len(first.logprobs) == len(first.top_logprobs) == 5 and first.text
    sessions.append([" More"])
    second = sessions.generate(5, ignore_eos=True)[0]
    assert state.requests[0]["messages"] == EXAMPLES[0].messages
    assert state.requests[1]["messages"][-1] == {"role": "assistant", "content": first.text + " More"}
    assert state.requests[1]["top_logprobs"] == 2 and state.requests[1]["continue_final_message"] is True
    # the same as one local session on the chat-templated prompt with the text appended
    local = make_generator(model, tok, "llama").open(EXAMPLES[:1], SETTINGS)
    local.generate(5, ignore_eos=True)
    local.append([" More"])
    assert second.text == local.generate(5, ignore_eos=True)[0].text


def test_retries_an_injected_503(tiny, server):
    _, tok = tiny
    url, state = server
    gen = remote(url, tok)
    state.fail_next = [503, 429]
    [seg] = gen.open(EXAMPLES[:1], SETTINGS).generate(4)
    assert seg.text and len(state.requests) == 3
    assert gen.remote.client.retries == 2


def test_gives_up_naming_server_and_status(tiny, server):
    url, state = server
    gen = remote(url, None, max_retries=1)
    state.fail_next = [503, 503, 503]
    with pytest.raises(RemoteError) as err:
        gen.open(EXAMPLES[:1], SETTINGS).generate(4)
    assert err.value.status == 503 and url in str(err.value) and "503" in str(err.value)
    assert "injected 503" in str(err.value) and "after 2 attempts" in str(err.value)


def test_client_errors_are_not_retried(tiny, server):
    url, state = server
    gen = remote(url, None, max_retries=3)
    state.fail_next = [400]
    with pytest.raises(RemoteError, match="HTTP 400: injected 400"):
        gen.open(EXAMPLES[:1], SETTINGS).generate(4)
    assert len(state.requests) == 1


def test_timeout(tiny, server):
    url, state = server
    gen = remote(url, None, timeout=0.2, max_retries=1)
    state.delay = 1.5
    start = time.perf_counter()
    with pytest.raises(RemoteError, match=r"timed out after 0.2 s \(2 attempts"):
        gen.open(EXAMPLES[:1], SETTINGS).generate(4)
    assert time.perf_counter() - start < 1.5


def test_unreachable_server_fails_at_load():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gen = OpenAIGenerator(OpenAIConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=1, backoff=0.01),
                          ModelPool())
    with pytest.raises(ModelLoadError, match=rf"127.0.0.1:{port}/v1/models: cannot reach the server"):
        gen.load()


def test_wrong_model_name_fails_at_load(server):
    url, _ = server
    gen = OpenAIGenerator(OpenAIConfig(base_url=url, model="other"), ModelPool())
    with pytest.raises(ModelLoadError, match=r"serves \['tiny'\], not 'other'"):
        gen.load()


def test_missing_key_variable_is_named(server, monkeypatch):
    url, _ = server
    monkeypatch.delenv("ENSEMBLE_TEST_KEY_UNSET", raising=False)
    gen = OpenAIGenerator(OpenAIConfig(base_url=url, model="tiny", api_key_env="ENSEMBLE_TEST_KEY_UNSET"), ModelPool())
    with pytest.raises(ModelLoadError, match="ENSEMBLE_TEST_KEY_UNSET"):
        gen.load()


# -- through the CLI: key handling and --concurrency ----------------------------------------------------

SECRET = "sk-test-5ecret-value-0123456789"


def _recipe(tmp_path: Path, url: str, **params) -> Path:
    recipe = {
        "name": "remote-test",
        "models": [{"name": "r", "generator": "openai",
                    "params": {"base_url": url, "model": "tiny", "backoff": 0.01, **params}}],
        "aggregator": {"type": "reward", "params": {"segment_tokens": 4, "max_rounds": 2}},
        "scorer": {"type": "logprob"},
        "generation": {"max_tokens": 8},
    }
    path = tmp_path / "remote.yaml"
    path.write_text(json.dumps(recipe))
    return path


def _run(*args: str | Path):  # noqa: ANN201 - click's Result
    from ensemble_cli.cli.main import app
    from ensemble_cli.core.pool import default_pool
    from ensemble_cli.plugins import load_registry, use_registry

    default_pool().clear()  # a fresh client (and key) per run, as in a new process
    try:
        with use_registry(load_registry(autoload=False)):
            return CliRunner().invoke(app, ["run", *map(str, args)])
    finally:
        default_pool().clear()


def _data(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"Question {i}?"}) + "\n" for i in range(n)))
    return path


def test_api_key_is_sent_but_never_written(tmp_path, server, monkeypatch):
    url, state = server
    state.api_key = SECRET
    monkeypatch.setenv("ENSEMBLE_TEST_KEY", SECRET)
    out = tmp_path / "out.jsonl"
    result = _run(_recipe(tmp_path, url, api_key_env="ENSEMBLE_TEST_KEY"), "-i", _data(tmp_path, 2), "-o", out)
    assert result.exit_code == 0, result.output
    assert state.auth_headers and all(h == f"Bearer {SECRET}" for h in state.auth_headers)
    text = out.read_text()
    assert SECRET not in text and SECRET not in result.output
    assert json.loads(text.splitlines()[0])["recipe"]["models"][0]["params"]["api_key_env"] == "ENSEMBLE_TEST_KEY"

    # a wrong key: the server's 401 is reported with the server and status, never the key
    monkeypatch.setenv("ENSEMBLE_TEST_KEY", SECRET + "-wrong")
    out2 = tmp_path / "out2.jsonl"
    result = _run(_recipe(tmp_path, url, api_key_env="ENSEMBLE_TEST_KEY"), "-i", _data(tmp_path, 1), "-o", out2)
    assert result.exit_code == 1
    assert "HTTP 401" in result.output and url in result.output
    assert SECRET not in result.output and (not out2.exists() or SECRET not in out2.read_text())


def test_concurrency_keeps_examples_in_flight(tmp_path, server):
    url, state = server
    state.delay = 0.3
    out = tmp_path / "out.jsonl"
    start = time.perf_counter()
    result = _run(_recipe(tmp_path, url), "-i", _data(tmp_path, 6), "-o", out,
                  "--batch-size", "1", "--concurrency", "3")
    elapsed = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in recs) == [f"q{i}" for i in range(6)]
    assert all(r["output"] for r in recs)
    assert state.max_in_flight == 3
    # 6 examples x 2 rounds x 0.3 s = 3.6 s one at a time; three at once take about a third
    assert elapsed < 3.0


def test_token_level_aggregator_rejects_remote_members(tmp_path):
    from ensemble_cli.core.components import Aggregator, ComponentConfig
    from ensemble_cli.errors import RecipeError
    from ensemble_cli.hookspecs import hookimpl
    from ensemble_cli.plugins import load_registry
    from ensemble_cli.recipe import validate_recipe

    class TokenAgg(Aggregator):
        Config = ComponentConfig
        token_level = True

        def run(self, examples, ctx):  # pragma: no cover - never run
            return []

    class Plugin:
        @staticmethod
        @hookimpl
        def register_aggregators(register):
            register("token-test", TokenAgg)

    registry = load_registry(autoload=False, extra_plugins=[Plugin])
    data = {"name": "t", "aggregator": {"type": "token-test"},
            "models": [{"name": "a", "generator": "hf", "params": {"model": "org/x"}},
                       {"name": "b", "generator": "openai", "params": {"base_url": "http://h/v1", "model": "m"}},
                       {"name": "c", "generator": "vllm", "params": {"model": "org/x"}}]}
    with pytest.raises(RecipeError) as err:
        validate_recipe(data, registry)
    paths = [p.path for p in err.value.problems]
    assert paths == ["models.1.generator", "models.2.generator"]
    assert "not supported by this backend" in str(err.value)
