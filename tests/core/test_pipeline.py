"""Pipeline.run_batch: per-call settings, and streaming/cancel hooks mapped to the caller's indices
across selection groups."""

from __future__ import annotations

from collections.abc import Sequence

import yaml

import fixture_plugins
from ensemble_cli.core.components import Aggregator, ComponentConfig, EnsembleContext, Member, Selector
from ensemble_cli.core.events import Loaded, Loading, RowProgress
from ensemble_cli.core.pipeline import Pipeline
from ensemble_cli.core.pool import ModelPool
from ensemble_cli.core.types import Example, GenerationSettings, Result
from ensemble_cli.hookspecs import Register, hookimpl
from ensemble_cli.plugins import load_registry
from ensemble_cli.recipe import validate_recipe


class SplitSelector(Selector):
    """Examples whose id ends in an odd digit get member b, the others member a (two groups)."""

    def select(self, examples: Sequence[Example], members: Sequence[Member]) -> list[list[str]]:
        return [["b"] if int(ex.id[-1]) % 2 else ["a"] for ex in examples]


class ReportAggregator(Aggregator):
    """Emits '<member>:<max_tokens>' for each example unless it is already cancelled."""

    Config = ComponentConfig

    def run(self, examples: Sequence[Example], ctx: EnsembleContext) -> list[Result]:
        out = []
        for i, ex in enumerate(examples):
            text = "" if ctx.is_cancelled(i) else f"{ctx.members[0].name}:{ctx.settings.max_tokens}"
            ctx.emit(i, text)
            ctx.progress(i, len(text), 1)
            out.append(Result(ex.id, text, "stop"))
        return out


class _Plugin:
    @hookimpl
    def register_selectors(self, register: Register) -> None:
        register("split", SplitSelector)

    @hookimpl
    def register_aggregators(self, register: Register) -> None:
        register("report", ReportAggregator)


RECIPE = """
name: t
models: [{name: a, generator: echo-gen}, {name: b, generator: echo-gen}]
selector: split
aggregator: report
generation: {max_tokens: 5}
"""


def test_settings_override_and_hooks_use_batch_indices():
    registry = load_registry(autoload=False, extra_plugins=[fixture_plugins, _Plugin()], builtins=False)
    pipeline = Pipeline(validate_recipe(yaml.safe_load(RECIPE), registry), ModelPool())
    examples = [Example(f"e{i}", [{"role": "user", "content": str(i)}]) for i in range(5)]

    default = pipeline.run_batch(examples)
    assert [r.output for r in default] == ["a:5", "b:5", "a:5", "b:5", "a:5"]

    seen: list[tuple[int, str]] = []
    out = pipeline.run_batch(
        examples, GenerationSettings(max_tokens=9), on_text=lambda i, t: seen.append((i, t)), cancelled=lambda i: i == 3
    )
    assert [r.output for r in out] == ["a:9", "b:9", "a:9", "", "a:9"]
    assert sorted(seen) == [(0, "a:9"), (1, "b:9"), (2, "a:9"), (4, "a:9")]
    assert [r.selected_models for r in out] == [["a"], ["b"], ["a"], ["b"], ["a"]]


def test_progress_hook_uses_batch_indices():
    registry = load_registry(autoload=False, extra_plugins=[fixture_plugins, _Plugin()], builtins=False)
    pipeline = Pipeline(validate_recipe(yaml.safe_load(RECIPE), registry), ModelPool())
    examples = [Example(f"e{i}", [{"role": "user", "content": str(i)}]) for i in range(5)]
    seen: list[tuple[int, RowProgress]] = []
    pipeline.run_batch(examples, on_progress=lambda i, p: seen.append((i, p)))
    # groups run a (0, 2, 4) then b (1, 3); each report carries the caller's index
    assert seen == [(0, RowProgress(3, 1)), (2, RowProgress(3, 1)), (4, RowProgress(3, 1)),
                    (1, RowProgress(3, 1)), (3, RowProgress(3, 1))]


def test_load_reports_each_member_as_it_starts_and_ends():
    registry = load_registry(autoload=False, extra_plugins=[fixture_plugins, _Plugin()], builtins=False)
    pipeline = Pipeline(validate_recipe(yaml.safe_load(RECIPE), registry), ModelPool())
    events: list[object] = []
    names: list[str] = []
    pipeline.load(on_model=names.append, on_event=events.append)
    assert [type(e) for e in events] == [Loading, Loaded, Loading, Loaded]
    assert [e.member for e in events] == ["a", "a", "b", "b"]  # type: ignore[attr-defined]
    assert events[0] == Loading("a", "echo-gen")
    assert isinstance(events[1], Loaded) and events[1].footprint is None and events[1].seconds >= 0
    assert str(events[1]).startswith("loaded model a (echo-gen) in ")
    assert names == ["a", "b"]
