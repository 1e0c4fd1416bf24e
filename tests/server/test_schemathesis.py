"""schemathesis over ``/openapi.json``: no generated input to a POST endpoint gets a 5xx.

Runs against its own server: the tiny single-model recipe, where every feature is served (an
ensemble recipe answers log-prob requests with a deliberate 501), with ``--max-tokens-cap 3`` so
every accepted request is short, and a bounded number of examples per operation and mode.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from live import LiveServer, launch

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

EXAMPLES = int(os.environ.get("SERVE_FUZZ_EXAMPLES", "60"))  # raise it for a deeper local run
DERANDOMIZE = "SERVE_FUZZ_EXAMPLES" not in os.environ


@pytest.fixture(scope="module")
def capped(recipes: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    log = tmp_path_factory.mktemp("logs") / "capped.log"
    server = launch(recipes["single"], log, "--max-tokens-cap", "3", "--max-batch", "16")
    yield server
    assert server.stop(signal.SIGTERM) == 0, server.output()


def _operations(server: LiveServer) -> list:
    schema = schemathesis.openapi.from_url(f"{server.base}/openapi.json")
    return [result.ok() for result in schema.include(method="POST").get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
def test_no_server_errors_on_generated_input(capped: LiveServer, mode: GenerationMode) -> None:
    operations = _operations(capped)
    paths = {op.path for op in operations}
    assert {"/v1/completions", "/v1/chat/completions", "/tokenize", "/detokenize"} <= paths
    failures: list[str] = []

    def check(case: object) -> None:
        response = case.call(base_url=capped.base, timeout=120)  # type: ignore[attr-defined]
        if response.status_code >= 500:
            body = repr(case.body)[:300]  # type: ignore[attr-defined]
            failures.append(f"{response.status_code} {body} -> {response.text[:300]}")
        assert response.status_code < 500
        if response.status_code >= 400:  # every error has OpenAI's body
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}

    for op in operations:
        run = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=DERANDOMIZE,
                       suppress_health_check=list(HealthCheck))(given(case=op.as_strategy(generation_mode=mode))(check))
        run()
    assert not failures
