"""``ensemble serve --ui`` over HTTP (no browser): the page and its routes, the key, the streamed
``ensemble_piece`` attribution, the vote and bench routes, and ``--max-tokens-cap`` for the UI."""

from __future__ import annotations

import json
from typing import Any

import httpx
from live import LiveServer
from ui_live import KEY

UI_ROUTES = [("GET", "/ui"), ("GET", "/ui/static/ui.js"), ("GET", "/ui/static/ui.css"), ("GET", "/ui/api/info"),
             ("GET", "/ui/api/components"), ("POST", "/ui/api/builder"), ("POST", "/ui/api/vote"),
             ("GET", "/ui/api/bench/0"), ("GET", "/ui/api/recipes"), ("POST", "/ui/api/recipes/use"),
             ("GET", "/status"), ("POST", "/v1/chat/completions"), ("GET", "/ui/logout")]


def _chunks(text: str) -> list[dict[str, Any]]:
    lines = [line[6:] for line in text.split("\n\n") if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


def test_the_page_and_its_assets_are_served_offline(ui_server: LiveServer) -> None:
    with ui_server.client() as c:
        page = c.get("/ui")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "/ui/static/ui.js" in page.text and "http" not in page.text.replace("http-equiv", "")
        for asset in ("ui.js", "ui.css"):
            body = c.get(f"/ui/static/{asset}").text
            assert "https://" not in body and "//cdn" not in body
        assert c.get("/ui/static/../app.py").status_code == 404
        info = c.get("/ui/api/info").json()
    assert info["members"] == ["first", "second"] and info["models"] == ["tiny-duo", "first", "second"]
    assert info["votes"] is True and len(info["benches"]) == 1 and info["max_tokens_cap"] == 64


def test_stream_chunks_name_the_member_of_each_piece(ui_server: LiveServer) -> None:
    body = {"model": "tiny-duo", "messages": [{"role": "user", "content": "Say: a b c"}], "max_tokens": 12,
            "temperature": 0.0, "seed": 7}
    with ui_server.client() as c:
        plain = c.post("/v1/chat/completions", json=body).json()
        streamed = _chunks(c.post("/v1/chat/completions", json={**body, "stream": True}).text)
    pieces = [(ch["choices"][0]["delta"].get("content", ""), ch.get("ensemble_piece", {}).get("model"))
              for ch in streamed if ch["choices"] and ch["choices"][0]["delta"].get("content")]
    answer = plain["choices"][0]["message"]["content"]
    assert answer and "".join(t for t, _ in pieces) == answer
    assert {m for _, m in pieces} <= {"first", "second"} and all(m for _, m in pieces)
    attributed = [a["model"] for a in plain["ensemble"]["choices"][0]["attribution"]]
    assert {m for _, m in pieces} == set(attributed)


def test_the_round_trace_reaches_the_client_plain_and_streamed(ui_server: LiveServer) -> None:
    body = {"model": "tiny-duo", "messages": [{"role": "user", "content": "Count: 1 2 3"}], "max_tokens": 12,
            "temperature": 0.0, "seed": 7}
    with ui_server.client() as c:
        plain = c.post("/v1/chat/completions", json=body).json()
        streamed = _chunks(c.post("/v1/chat/completions", json={**body, "stream": True}).text)
    choice = plain["ensemble"]["choices"][0]
    (final,) = [ch["ensemble"] for ch in streamed if "ensemble" in ch]  # only on the finishing chunk
    assert final["choices"][0]["trace"] == choice["trace"]
    kept = [t for t in choice["trace"] if not t.get("stop")]
    assert len(kept) == len(choice["attribution"]) > 0
    for record, piece in zip(kept, choice["attribution"], strict=True):
        assert record["round"] == piece["round"] and [c["model"] for c in record["candidates"]] == ["first", "second"]
        (chosen,) = [c for c in record["candidates"] if c["chosen"]]
        assert (chosen["model"], chosen["text"], chosen["score"]) == (piece["model"], piece["text"][:200],
                                                                      round(piece["score"], 6))


def test_max_tokens_cap_and_queue_apply_to_the_ui_routes(ui_server: LiveServer) -> None:
    body = {"model": "tiny-duo", "messages": [{"role": "user", "content": "x"}], "max_tokens": 65, "stream": True}
    with ui_server.client() as c:
        refused = c.post("/v1/chat/completions", json=body)
    assert refused.status_code == 400 and "64" in refused.json()["error"]["message"]


def test_vote_and_bench_routes(ui_server: LiveServer) -> None:
    with ui_server.client() as c:
        ok = c.post("/ui/api/vote", json={"prompt": "p", "shown": ["first", "tiny-duo"], "outputs": ["x", "y"],
                                          "choice": 1})
        bad = c.post("/ui/api/vote", json={"prompt": "p", "shown": ["a", "b"], "outputs": ["x", "y"], "choice": 5})
        bench = c.get("/ui/api/bench/0").json()
        missing = c.get("/ui/api/bench/3")
    assert ok.json() == {"ok": True, "winner": "tiny-duo"} and bad.status_code == 400
    assert json.loads(ui_server.votes.read_text().splitlines()[-1])["winner"] == "tiny-duo"  # type: ignore[attr-defined]
    assert bench["summary"]["problems"] == 8 and missing.status_code == 404


def test_with_a_key_every_ui_route_refuses_a_missing_or_wrong_key(keyed_server: LiveServer) -> None:
    with httpx.Client(base_url=keyed_server.base, timeout=60) as anon:
        for method, path in UI_ROUTES:
            r = anon.request(method, path, json={} if method == "POST" else None)
            assert r.status_code == 401, (method, path, r.status_code)
        page = anon.get("/ui")
        assert "API key" in page.text and 'action="/ui/login"' in page.text  # the sign-in form, not the app
        wrong = anon.post("/ui/login", data={"key": "nope"})
        assert wrong.status_code == 401 and "is not this server" in wrong.text
        with httpx.Client(base_url=keyed_server.base, cookies={"ensemble_ui_key": "nope"}) as forged:
            assert forged.get("/ui/api/info").status_code == 401 and forged.get("/ui").status_code == 401
        right = anon.post("/ui/login", data={"key": KEY}, follow_redirects=False)
        assert right.status_code == 303 and "httponly" in right.headers["set-cookie"].lower()
        assert "samesite=strict" in right.headers["set-cookie"].lower()
        assert anon.get("/ui/api/info").json()["auth"] is True  # the cookie now stands for the key
        assert anon.get("/ui").status_code == 200
        out = anon.get("/ui/logout", follow_redirects=True)
        assert out.status_code == 401 and anon.get("/ui/api/info").status_code == 401
    with keyed_server.client() as c:  # the header works as before, on the UI's routes too
        assert c.get("/ui/api/info").status_code == 200
        assert c.get("/ui/api/components").status_code == 200


def test_the_recipes_folder_lists_each_recipe_and_serves_the_runnable_ones(ui_server: LiveServer) -> None:
    with ui_server.client() as c:
        listed = {r["file"]: r for r in c.get("/ui/api/recipes").json()["recipes"]}
        assert sorted(listed) == ["bf16.yaml", "clash.yml", "loop.yaml", "typo.yaml"]  # notes.txt is no recipe
        assert listed["loop.yaml"]["ok"] and listed["loop.yaml"]["members"] == ["alpha", "beta"]
        assert "member 'alpha'" in listed["bf16.yaml"]["reason"] and "not loaded" in listed["bf16.yaml"]["reason"]
        assert "lop" in listed["typo.yaml"]["reason"] and listed["typo.yaml"]["reason"].startswith("invalid")
        assert "tiny-duo" in listed["clash.yml"]["reason"] and not listed["clash.yml"]["ok"]
        refused = c.post("/ui/api/recipes/use", json={"file": "bf16.yaml"})
        assert refused.status_code == 400 and "not loaded" in refused.json()["error"]["message"]
        assert c.post("/ui/api/recipes/use", json={"file": "../duo.yaml"}).status_code == 404
        used = c.post("/ui/api/recipes/use", json={"file": "loop.yaml"}).json()
        assert used["model"] == "tiny-loop" and set(used["colours"]) == {"alpha", "beta"}
        body = {"model": "tiny-loop", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 6}
        reply = c.post("/v1/chat/completions", json=body).json()
        assert reply["model"] == "tiny-loop" and reply["ensemble"]["aggregator"] == "loop"
        assert {a["model"] for a in reply["ensemble"]["choices"][0]["attribution"]} <= {"alpha", "beta"}
        assert c.post("/v1/chat/completions", json={**body, "max_tokens": 65}).status_code == 400  # the cap holds
        status = c.get("/status").json()
        listed_models = [m["id"] for m in c.get("/v1/models").json()["data"]]
    assert status["requests_served"] >= 1 and "tiny-loop" not in status["models"]  # /status: the served recipe
    assert "tiny-loop" in listed_models and listed_models[0] == "tiny-duo"  # /v1/models: all a client may call


def test_the_builders_yaml_is_served_only_on_loaded_models(ui_server: LiveServer, duo_recipe) -> None:
    text = duo_recipe.read_text().replace("tiny-duo", "tiny-built").replace("segment_tokens: 3", "segment_tokens: 2")
    with ui_server.client() as c:
        used = c.post("/ui/api/recipes/use", json={"yaml": text})
        assert used.status_code == 200 and used.json()["model"] == "tiny-built"
        ask = {"model": "tiny-built", "messages": [{"role": "user", "content": "x"}], "max_tokens": 4}
        reply = c.post("/v1/chat/completions", json=ask).json()
        assert reply["ensemble"]["recipe"] == "tiny-built" and reply["ensemble"]["choices"][0]["trace"]
        other = text.replace("dtype: float32", "dtype: bfloat16")
        assert "not loaded" in c.post("/ui/api/recipes/use", json={"yaml": other}).json()["error"]["message"]
        scorer = text.replace("scorer: logprob", "scorer: {type: reward-model, params: {model: some/rm}}")
        refused = c.post("/ui/api/recipes/use", json={"yaml": scorer}).json()["error"]["message"]
        assert "loads a model of its own (scorer.params.model)" in refused
        assert c.post("/ui/api/recipes/use", json={"yaml": "name: [unclosed"}).status_code == 400
