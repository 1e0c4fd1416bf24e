"""A component failing while the server runs a request: a 500 whose OpenAI error body names the
component and its plugin (never a bare traceback); verbose mode puts the traceback on stderr only."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import yaml
from fastapi.testclient import TestClient

import failing_plugins
import fixture_plugins
from ensemble_cli.api.ensemble import Ensemble
from ensemble_cli.plugins import load_registry
from ensemble_cli.recipe import validate_recipe
from ensemble_cli.server.app import ServerState, create_app
from ensemble_cli.server.engine import Engine
from ensemble_cli.server.pipelines import Pipelines
from ensemble_cli.verbosity import ENV_VAR

RECIPE = """
name: picky
models: [{name: a, generator: echo-gen}]
selector: echo-all
aggregator: pick
scorer: shortest
"""


@pytest.fixture
def client() -> Iterator[TestClient]:
    registry = load_registry(autoload=False, extra_plugins=[fixture_plugins, failing_plugins.plugin()], builtins=False)
    ensemble = Ensemble(validate_recipe(yaml.safe_load(RECIPE), registry))  # what `ensemble serve` serves
    engine = Engine(load=ensemble.load)
    app = create_app(ServerState(Pipelines(ensemble, registry), engine))
    engine.start()
    try:
        deadline = time.monotonic() + 60
        while engine.state == "loading" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert engine.ready, engine.error
        yield TestClient(app)
    finally:
        engine.stop(timeout=10)
        ensemble.close()


@pytest.mark.parametrize("verbose", [False, True])
def test_a_failing_plugin_is_a_500_naming_it(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], verbose: bool
) -> None:
    monkeypatch.setenv(ENV_VAR, "1" if verbose else "0")
    ok = client.post("/v1/completions", json={"model": "picky", "prompt": "ccc|a"})
    assert ok.status_code == 200 and ok.json()["choices"][0]["text"] == "a"
    bad = client.post("/v1/completions", json={"model": "picky", "prompt": "a||b"})
    assert bad.status_code == 500
    assert bad.json()["error"] == {
        "message": "scorer 'shortest' (plugin ensemble-shortest) raised ZeroDivisionError: division by zero",
        "type": "server_error",
        "param": None,
        "code": "component_error",
    }
    stderr = capsys.readouterr().err
    assert ("Traceback (most recent call last):" in stderr and "failing_plugins.py" in stderr) is verbose
