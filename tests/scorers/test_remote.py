"""The ``remote`` scorer against a local HTTP test server (127.0.0.1, free port)."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ensemble_cli.core.components import Candidate
from ensemble_cli.core.types import Example, Segment
from ensemble_cli.scorers.remote import RemoteConfig, RemoteScorer, RemoteScorerError

EX = Example("q", [{"role": "user", "content": "hi"}])


class Handler(BaseHTTPRequestHandler):
    """/len scores len(text); /flaky answers 500 twice then works; /slow sleeps; /bad and /short misbehave.

    A client that gave up (the timeout test) may be gone when the answer is written: that is what
    the test provokes, so the handler drops the answer instead of raising ``BrokenPipeError``.
    """

    hits: dict[str, int] = {}
    bodies: list[dict] = []

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Handler.bodies.append(body)
        n = Handler.hits[self.path] = Handler.hits.get(self.path, 0) + 1
        texts = [c["text"] for c in body["candidates"]]
        if self.path == "/flaky" and n <= 2 or self.path == "/down":
            return self._send(500, {"error": "boom"})
        if self.path == "/slow":
            time.sleep(1.0)
        if self.path == "/bad":
            return self._send(400, {"error": "bad request"})
        if self.path == "/short":
            return self._send(200, {"scores": [1.0]})
        self._send(200, {"scores": [len(t) for t in texts]})

    def _send(self, code: int, data: dict) -> None:
        raw = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        try:
            self.end_headers()
            self.wfile.write(raw)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class Server(ThreadingHTTPServer):
    """Joins its request threads on close and keeps, rather than prints, a handler's exception, so
    the fixture can fail the module on one instead of a traceback landing in the middle of the run."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.errors: list[BaseException] = []

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001 - socketserver's signature
        self.errors.append(sys.exc_info()[1])


@pytest.fixture(scope="module")
def url():
    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()  # waits for handlers still running (/slow after the client timed out)
    assert server.errors == [], f"the test server's handler raised: {server.errors!r}"


def cands(*texts):
    return [Candidate(EX, "so far", "smol", Segment([1], t, [-1.0], "stop")) for t in texts]


def scorer(url, **kw):
    return RemoteScorer(RemoteConfig(url=url, backoff=0.01, **kw))


def test_scores_in_batches_and_sends_the_documented_body(url):
    Handler.bodies.clear()
    got = scorer(url + "/len", batch_size=2, params={"k": 1}).score(cands("a", "bbb", "cc"))
    assert got == [1.0, 3.0, 2.0]
    assert [len(b["candidates"]) for b in Handler.bodies] == [2, 1]
    first = Handler.bodies[0]
    assert first["params"] == {"k": 1}
    assert first["candidates"][0] == {
        "id": "q", "messages": EX.messages, "prompt": "hi", "prefix": "so far", "text": "a", "member": "smol",
    }


def test_500_is_retried(url):
    assert scorer(url + "/flaky", retries=2).score(cands("abcd")) == [4.0]
    assert Handler.hits["/flaky"] == 3


def test_500_that_persists_is_a_clear_error(url):
    with pytest.raises(RemoteScorerError, match=r"failed after 2 attempt\(s\): HTTP 500"):
        scorer(url + "/down", retries=1).score(cands("x"))


def test_timeout(url):
    with pytest.raises(RemoteScorerError, match="timed out after 0.2 s"):
        scorer(url + "/slow", timeout=0.2, retries=0).score(cands("x"))


def test_endpoint_down():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    with pytest.raises(RemoteScorerError, match="cannot connect"):
        scorer(f"http://127.0.0.1:{port}/x", retries=1).score(cands("x"))


def test_4xx_and_malformed_answers_are_not_retried(url):
    with pytest.raises(RemoteScorerError, match="refused the request: HTTP 400"):
        scorer(url + "/bad", retries=3).score(cands("x"))
    assert Handler.hits["/bad"] == 1
    with pytest.raises(RemoteScorerError, match=r'must answer \{"scores": \[2 numbers\]\}'):
        scorer(url + "/short").score(cands("x", "y"))


def test_url_is_validated():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        RemoteConfig(url="localhost:8000")
