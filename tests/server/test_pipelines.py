"""The server's pipelines are one ``Ensemble`` (the Python API's object) and variants on its models:
a member alone or a per-request override loads no weights twice, and closing the ``Ensemble``
lets go of everything the server loaded, variants included."""

from __future__ import annotations

from pathlib import Path

from ensemble_cli.api.ensemble import Ensemble
from ensemble_cli.core.pool import ModelPool
from ensemble_cli.core.types import Example
from ensemble_cli.server.pipelines import Pipelines
from ensemble_cli.server.schemas import EnsembleOverride


def test_variants_run_on_the_served_ensembles_models_and_close_frees_them(recipes: dict[str, Path]) -> None:
    pool = ModelPool()
    ens = Ensemble.from_recipe(recipes["ensemble"], pool=pool)
    pipelines = Pipelines(ens)
    assert pipelines.base is ens.pipeline and pipelines.recipe is ens.resolved
    assert pipelines.model_names == ["tiny-duo", "first", "second"]
    ens.load()
    loaded = sorted(pool.keys())
    assert loaded and pool.loads == len(loaded)

    _, alone = pipelines.get("second", None)
    _, looped = pipelines.get(None, EnsembleOverride(aggregator="loop"))
    assert [m.name for m in alone.members] == ["second"] and looped.resolved.aggregator.type == "loop"
    example = Example(id="q", messages=[{"role": "user", "content": "Say hi."}])
    for variant in (alone, looped):
        [result] = variant.run_batch([example], variant.resolved.generation)
        assert result.error is None and result.output
    assert sorted(pool.keys()) == loaded and pool.loads == len(loaded)  # nothing loaded twice
    served = {m.name: m.generator.loaded.model for m in ens.pipeline.members}
    for variant in (alone, looped):
        assert variant.pool is ens.pipeline.pool  # the served Ensemble's lease
        assert all(m.generator.loaded.model is served[m.name] for m in variant.members)

    ens.close()
    assert pool.keys() == []  # the variants' models were the served Ensemble's: all let go
