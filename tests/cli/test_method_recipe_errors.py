"""Bad method recipes through the CLI: each a recipe error naming the field, exit 2, no model loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ensemble_cli.cli.main import app

MODELS = [{"name": n, "params": {"model": "smollm2-135m-instruct"}} for n in ("smol", "gemma")]


def write(tmp_path: Path, **parts) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"name": "r", "models": MODELS, "aggregator": "loop", **parts}))
    return path


@pytest.mark.parametrize(("parts", "expected"), [
    ({"aggregator": "progresive"}, "aggregator.type: unknown aggregator 'progresive' — did you mean 'progressive'?"),
    ({"selector": "zscroe"}, "selector.type: unknown selector 'zscroe' — did you mean 'zscore'?"),
    ({"aggregator": {"type": "progressive", "params": {"length_thresholds": [300, 100]}}},
     "aggregator.params.length_thresholds: value error, thresholds must increase (got [300, 100])"),
    ({"aggregator": {"type": "progressive", "params": {"length_thresholds": [100, 300]}}},
     "aggregator.params.length_thresholds: 3 length bands but only 2 model(s)"),
    ({"selector": {"type": "zscore", "params": {"reference_stats": "REF"}}},
     "selector.params.reference_stats: REF has no statistics for model(s) 'gemma' (it has: smol)"),
    ({"aggregator": {"type": "union", "params": {"primary": "smoll", "threshold": 0.9}}},
     "aggregator.params.primary: 'smoll' is not a model of this recipe"),
    ({"aggregator": {"type": "topk-union", "params": {"weights": {"smol": 0.6, "gema": 0.4}}}},
     "aggregator.params.weights.gema: 'gema' is not a model of this recipe"),
    ({"aggregator": {"type": "union", "params": {"weights": {"smol": 1.0}}}},
     "aggregator.params.weights: no weight for gemma"),
    ({"aggregator": {"type": "union", "params": {"weights": {"smol": 0.0, "gemma": 0.0}}}},
     "aggregator.params.weights: at least one weight must be > 0"),
])
def test_bad_method_recipe_exits_2_naming_the_field(tmp_path, parts, expected):
    ref = tmp_path / "ref.json"
    ref.write_text('{"models": {"smol": {"perplexity": {"mean": 2, "std": 1}, '
                   '"max_prob": {"mean": 0.5, "std": 0.1}, "examples": 3}}}')
    if "selector" in parts and isinstance(parts["selector"], dict):
        parts["selector"]["params"]["reference_stats"] = str(ref)
        expected = expected.replace("REF", str(ref))
    result = CliRunner().invoke(app, ["recipes", "validate", str(write(tmp_path, **parts))])
    assert result.exit_code == 2
    assert expected in result.stderr
