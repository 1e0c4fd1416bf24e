"""The official ``openai`` client against a live ``ensemble serve`` (a two-member tiny ensemble)."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest
from live import LiveServer


@pytest.fixture(scope="module")
def client(duo: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=duo.v1, api_key="unused", max_retries=0, timeout=120)


def test_models_health_status(duo: LiveServer, client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["tiny-duo", "first", "second"]
    assert httpx.get(f"{duo.base}/health").json() == {"status": "ok"}
    status = httpx.get(f"{duo.base}/status").json()
    assert status["recipe"] == "tiny-duo" and status["state"] == "ready"
    assert status["methods"] == {"selector": "all", "aggregator": "reward", "scorer": "logprob"}
    assert [m["name"] for m in status["members"]] == ["first", "second"]
    assert {"queue_depth", "requests_served", "uptime_s"} <= set(status)


def test_completion(client: openai.OpenAI) -> None:
    out = client.completions.create(model="tiny-duo", prompt="The capital of France is", max_tokens=6)
    (choice,) = out.choices
    assert choice.index == 0 and choice.finish_reason in ("stop", "length") and isinstance(choice.text, str)
    assert out.usage.prompt_tokens > 5 and 0 < out.usage.completion_tokens <= 6
    assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens
    ens = out.model_extra["ensemble"]
    assert ens["recipe"] == "tiny-duo" and ens["aggregator"] == "reward"
    (account,) = ens["choices"]
    assert account["selected_models"] == ["first", "second"]
    assert "".join(a["text"] for a in account["attribution"]) == choice.text
    assert all(a["model"] in ("first", "second") and a["score"] is not None for a in account["attribution"])


def test_n_and_several_prompts_keep_their_order(client: openai.OpenAI) -> None:
    prompts = ["one two three", "alpha beta"]
    out = client.completions.create(model="tiny-duo", prompt=prompts, n=2, max_tokens=4, echo=True)
    assert [c.index for c in out.choices] == [0, 1, 2, 3]
    for c in out.choices:
        assert c.text.startswith(prompts[c.index // 2])
    alone = client.completions.create(model="tiny-duo", prompt="alpha beta", max_tokens=4)
    assert out.choices[2].text == "alpha beta" + alone.choices[0].text  # greedy: n copies agree


def test_token_id_prompts_are_decoded_with_the_first_member(duo: LiveServer, client: openai.OpenAI) -> None:
    ids = httpx.post(f"{duo.base}/tokenize", json={"prompt": "hello world", "add_special_tokens": False}).json()
    assert ids["count"] == len(ids["tokens"]) > 0
    assert httpx.post(f"{duo.base}/detokenize", json={"tokens": ids["tokens"]}).json() == {"prompt": "hello world"}
    by_ids = client.completions.create(model="tiny-duo", prompt=ids["tokens"], max_tokens=4)
    by_text = client.completions.create(model="tiny-duo", prompt="hello world", max_tokens=4)
    assert by_ids.choices[0].text == by_text.choices[0].text
    info = httpx.get(f"{duo.base}/tokenizer_info").json()
    assert info["eos_token"] and info["vocab_size"] > 1000


def test_chat_and_max_completion_tokens(client: openai.OpenAI) -> None:
    out = client.chat.completions.create(
        model="tiny-duo",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}],
        max_completion_tokens=5,
        n=2,
        seed=3,
    )
    assert [c.index for c in out.choices] == [0, 1]
    assert all(c.message.role == "assistant" and isinstance(c.message.content, str) for c in out.choices)
    assert 0 < out.usage.completion_tokens <= 10


def test_streaming_chat_matches_the_whole_answer(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Count to ten"}]
    whole = client.chat.completions.create(model="tiny-duo", messages=messages, max_tokens=12)
    stream = client.chat.completions.create(
        model="tiny-duo", messages=messages, max_tokens=12, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])


def test_streaming_completion_raw_sse(duo: LiveServer) -> None:
    body = {"model": "tiny-duo", "prompt": "Once upon a time", "max_tokens": 8, "stream": True}
    with httpx.stream("POST", f"{duo.v1}/completions", json=body, timeout=60) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        raw = resp.read().decode()
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events) and events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert all(c["object"] == "text_completion" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length") and "ensemble" in chunks[-1]


def test_ensemble_override(client: openai.OpenAI) -> None:
    out = client.completions.create(
        model="tiny-duo", prompt="Hi", max_tokens=6,
        extra_body={"ensemble": {"aggregator": {"type": "reward", "params": {"segment_tokens": 2}}}},
    )
    rounds = out.model_extra["ensemble"]["choices"][0]["attribution"]
    assert all(a["tokens"] <= 2 for a in rounds)
    with pytest.raises(openai.BadRequestError) as bad:
        client.completions.create(model="tiny-duo", prompt="Hi", max_tokens=2,
                                  extra_body={"ensemble": {"aggregator": {"type": "reward",
                                                                          "params": {"segment_tokns": 2}}}})
    assert bad.value.body["param"] == "ensemble.aggregator.params.segment_tokns"
    assert "did you mean segment_tokens" in bad.value.body["message"]
    with pytest.raises(openai.BadRequestError) as bad:
        client.completions.create(model="tiny-duo", prompt="Hi", max_tokens=2,
                                  extra_body={"ensemble": {"scorer": {"type": "logprob", "params": {"model": "x"}}}})
    assert bad.value.body["param"] == "ensemble.scorer.params.model"


def test_a_member_alone_and_its_loglikelihood(client: openai.OpenAI) -> None:
    out = client.completions.create(model="second", prompt="Hi", max_tokens=5)
    assert out.model == "second"
    assert out.model_extra["ensemble"]["choices"][0]["selected_models"] == ["second"]
    ids = [504, 3458, 314, 260, 1711]
    ll = client.completions.create(model="first", prompt=ids, max_tokens=1, echo=True, logprobs=2)
    lp = ll.choices[0].logprobs
    assert len(lp.tokens) == len(ids) + 1 and lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert all(v < 0 for v in lp.token_logprobs[1:])
    greedy = max(lp.top_logprobs[-1].values())
    assert lp.token_logprobs[-1] == greedy  # the extra token is the greedy one
    for tok, top in zip(lp.token_logprobs[1:-1], lp.top_logprobs[1:-1], strict=True):
        assert len(top) in (2, 3) and tok in top.values() and max(top.values()) >= tok
    zero = client.completions.create(model="first", prompt=ids, max_tokens=0, echo=True, logprobs=0)
    assert zero.choices[0].logprobs.token_logprobs == lp.token_logprobs[:-1]
    assert zero.usage.prompt_tokens == len(ids) and zero.usage.completion_tokens == 0


def test_errors(duo: LiveServer, client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as nf:
        client.completions.create(model="gpt-4", prompt="x")
    assert nf.value.body["param"] == "model" and "tiny-duo" in nf.value.body["message"]
    with pytest.raises(openai.BadRequestError) as bad:
        client.completions.create(model="tiny-duo", prompt="x", max_tokens=1000)  # the cap is 64
    assert bad.value.body["param"] == "max_tokens" and "cap" in bad.value.body["message"]
    with pytest.raises(openai.BadRequestError) as bad:
        client.completions.create(model="tiny-duo", prompt="x", temperature=-1)
    assert bad.value.status_code == 400 and bad.value.body["param"] == "temperature"
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="tiny-duo", messages=[])
    assert bad.value.body["param"] == "messages"
    with pytest.raises(openai.BadRequestError) as bad:
        client.completions.create(model="tiny-duo", prompt=[[1, 2], [10**9]])
    assert bad.value.body["param"] == "prompt.1" and "out of range" in bad.value.body["message"]
    with pytest.raises(openai.BadRequestError) as bad:
        client.completions.create(model="tiny-duo", prompt="word " * 2100, max_tokens=4)
    assert bad.value.body["param"] == "prompt" and "context" in bad.value.body["message"]
    with pytest.raises(openai.APIStatusError) as ni:
        client.completions.create(model="tiny-duo", prompt=[1, 2, 3], max_tokens=1, echo=True, logprobs=1)
    assert ni.value.status_code == 501 and "model: 'first'" in ni.value.body["message"]
    raw = httpx.post(f"{duo.v1}/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert raw.status_code == 400 and set(raw.json()["error"]) == {"message", "type", "param", "code"}
    assert httpx.post(f"{duo.v1}/completions", json={"prompt": "x", "n": 0}).json()["error"]["param"] == "n"


def test_disconnect_mid_stream_cancels_and_the_server_goes_on(duo: LiveServer, client: openai.OpenAI) -> None:
    body = {"model": "first", "messages": [{"role": "user", "content": "Tell a long story"}], "max_tokens": 64,
            "stream": True, "ensemble": {"aggregator": {"type": "single", "params": {"chunk_tokens": 1}}}}
    before = httpx.get(f"{duo.base}/status").json()
    with httpx.stream("POST", f"{duo.v1}/chat/completions", json=body, timeout=60) as resp:
        lines = resp.iter_lines()
        got = [next(lines) for _ in range(5)]  # role chunk and a couple of tokens
    assert got[0].startswith("data: ")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the job ends early (cancelled), it does not run 64 tokens to the end
        status = httpx.get(f"{duo.base}/status").json()
        if status["requests_cancelled"] > before["requests_cancelled"] and status["in_flight"] == 0:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the stream was not cancelled: {status}")
    out = client.chat.completions.create(model="tiny-duo", messages=[{"role": "user", "content": "Still there?"}],
                                         max_tokens=3)
    assert out.choices[0].finish_reason in ("stop", "length")


def test_logprobs_of_generated_text_for_one_member(client: openai.OpenAI) -> None:
    out = client.completions.create(model="first", prompt="Hello", max_tokens=5, logprobs=2, temperature=1.0)
    lp = out.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) > 0
    assert all(v <= 0 for v in lp.token_logprobs) and lp.text_offset[0] == 0
    assert all(2 <= len(top) <= 3 and max(top.values()) >= v for top, v in zip(lp.top_logprobs, lp.token_logprobs,
                                                                            strict=True))
    chat = client.chat.completions.create(model="first", messages=[{"role": "user", "content": "Hi"}], max_tokens=4,
                                          logprobs=True, top_logprobs=1)
    content = chat.choices[0].logprobs.content
    assert content and all(len(t.top_logprobs) == 1 and t.logprob <= 0 for t in content)
    stream = client.chat.completions.create(model="first", messages=[{"role": "user", "content": "Hi"}],
                                            max_tokens=4, logprobs=True, stream=True)
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == chat.choices[0].message.content
    assert chunks[0].choices[0].logprobs.content  # log-probs ride with the (buffered) text
    with pytest.raises(openai.APIStatusError) as ni:
        client.completions.create(model="tiny-duo", prompt="Hello", max_tokens=2, logprobs=1)
    assert ni.value.status_code == 501 and ni.value.body["param"] == "model"


def test_the_server_runs_the_same_pipeline_as_the_library(client: openai.OpenAI, recipes: dict) -> None:
    """A seeded, sampled answer over HTTP equals ``Pipeline.run_batch`` on the same recipe in-process."""
    from ensemble_cli.core.pipeline import Pipeline
    from ensemble_cli.core.types import Example
    from ensemble_cli.recipe import load_recipe
    from ensemble_cli.server.service import example_id

    messages = [{"role": "user", "content": "Name three colours"}]
    out = client.chat.completions.create(model="tiny-duo", messages=messages, max_tokens=10, temperature=1.0,
                                         seed=11)
    pipeline = Pipeline(load_recipe(recipes["ensemble"]))
    settings = pipeline.resolved.generation
    settings.max_tokens, settings.temperature, settings.seed = 10, 1.0, 11
    (local,) = pipeline.run_batch([Example(example_id(0, 0, messages), messages)], settings=settings)
    assert out.choices[0].message.content == local.output
    assert out.model_extra["ensemble"]["choices"][0]["attribution"] == [
        {"model": a.model, "round": a.round, "text": a.text, "tokens": a.tokens, "score": a.score}
        for a in local.attribution
    ]


def test_extreme_but_valid_sampling_values(client: openai.OpenAI) -> None:
    """Found by schemathesis: a denormal temperature must not reach the sampler as a divisor."""
    tiny = client.completions.create(model="tiny-duo", prompt="Hi", max_tokens=3, temperature=5e-324)
    greedy = client.completions.create(model="tiny-duo", prompt="Hi", max_tokens=3, temperature=0)
    assert tiny.choices[0].text == greedy.choices[0].text
    out = client.completions.create(model="tiny-duo", prompt="Hi", max_tokens=3, temperature=2, top_p=5e-324)
    assert out.choices[0].finish_reason in ("stop", "length")
