"""The component boundary (``core.guard``): what a component raises, or a result that breaks its
base class's contract, becomes a ``ComponentError`` naming the component, its kind and its plugin."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import yaml

import failing_plugins
import fixture_plugins
from ensemble_cli.core.components import Generator, Member
from ensemble_cli.core.guard import Culprit, guard
from ensemble_cli.core.pipeline import Pipeline
from ensemble_cli.core.pool import ModelPool
from ensemble_cli.core.sessions import SessionBatch, SessionStats
from ensemble_cli.core.types import Example, GenerationSettings, Segment
from ensemble_cli.errors import ComponentError, UsageError
from ensemble_cli.plugins import load_registry
from ensemble_cli.recipe import validate_recipe

RECIPE = """
name: t
models: [{name: a, generator: echo-gen}, {name: b, generator: echo-gen}]
selector: echo-all
aggregator: pick
scorer: shortest
"""


def pipeline(**changes: str) -> Pipeline:
    registry = load_registry(autoload=False, extra_plugins=[fixture_plugins, failing_plugins.plugin()], builtins=False)
    data = yaml.safe_load(RECIPE)
    data.update(changes)
    return Pipeline(validate_recipe(data, registry), ModelPool())


def examples(*prompts: str) -> list[Example]:
    return [Example(f"e{i}", [{"role": "user", "content": p}]) for i, p in enumerate(prompts)]


def test_a_working_plugin_is_untouched() -> None:
    out = pipeline().run_batch(examples("ccc|a|bb", "xy|xyz"))
    assert [r.output for r in out] == ["a", "xy"]
    assert isinstance(pipeline().scorer, failing_plugins.ShortestScorer)  # the object stays itself


def test_an_exception_names_the_component_its_kind_and_its_plugin() -> None:
    with pytest.raises(ComponentError) as info:
        pipeline().run_batch(examples("a||b"))
    err = info.value
    assert str(err) == "scorer 'shortest' (plugin ensemble-shortest) raised ZeroDivisionError: division by zero"
    assert (err.kind, err.name, err.plugin) == ("scorer", "shortest", "ensemble-shortest")
    assert isinstance(err.__cause__, ZeroDivisionError)


def test_too_few_scores_are_caught_where_they_come_back() -> None:
    with pytest.raises(ComponentError) as info:
        pipeline(scorer="too-few").run_batch(examples("a|b", "c"))
    assert str(info.value) == (
        "scorer 'too-few' (plugin ensemble-shortest) returned a wrong result from score(): "
        "expected a list of 3 floats (one per candidate), got a list of 2"
    )


def test_scores_that_are_not_numbers_are_caught() -> None:
    with pytest.raises(ComponentError, match=r"^scorer 'wordy' .* expected a list of 2 floats \(one per candidate\), "
                       r"got 'high' \(a str\) at index 0$"):
        pipeline(scorer="wordy").run_batch(examples("a|b"))


def test_a_selector_naming_an_unknown_member() -> None:
    with pytest.raises(ComponentError) as info:
        pipeline(selector="ghost").run_batch(examples("a"))
    assert str(info.value) == (
        "selector 'ghost' (plugin ensemble-shortest) returned a wrong result from select(): expected a non-empty "
        "list of names among 'a', 'b' for each example, got a list of 1 for example 'e0'"
    )


def test_an_aggregator_returning_too_few_results() -> None:
    with pytest.raises(ComponentError) as info:
        pipeline(aggregator="short-changed", scorer=None).run_batch(examples("a", "b"))
    assert str(info.value) == (
        "aggregator 'short-changed' (plugin ensemble-shortest) returned a wrong result from run(): "
        "expected a list of 2 Results (one per example), got a list of 1"
    )


def test_our_typed_errors_pass_unchanged() -> None:
    with pytest.raises(UsageError, match="^polite scorer: nothing to score today$"):
        pipeline(scorer="polite").run_batch(examples("a"))


def test_a_constructor_that_raises_is_named() -> None:
    with pytest.raises(ComponentError, match=r"^scorer 'fragile' \(plugin ensemble-shortest\) raised KeyError: "
                       r"'weights' while being built$"):
        pipeline(scorer="fragile")


def test_built_ins_are_named_as_the_builtins_plugin() -> None:
    from ensemble_cli.registry import Registry

    registry: Registry = load_registry(autoload=False, extra_plugins=[fixture_plugins])
    data = yaml.safe_load(RECIPE) | {"aggregator": "pick", "scorer": "vote"}
    registry.register("aggregator", "pick", failing_plugins.PickAggregator, "tests")
    resolved = validate_recipe(data, registry)
    assert resolved.scorer is not None and resolved.scorer.plugin == "ensemble_cli.builtins"
    assert resolved.aggregator.plugin == "tests"


class _Sessions(SessionBatch):
    """Two rows whose ``generate`` forgets one, and whose ``text`` raises."""

    stats = SessionStats()

    def __len__(self) -> int:
        return 2

    def prompt_length(self, row: int) -> int:
        return 1

    def append(self, texts: Sequence[str | None]) -> None:
        pass

    def generate(self, max_tokens, **kwargs) -> list[Segment]:  # noqa: ANN001, ANN003
        return [Segment([], "", [], "length")]

    def rollback(self, row: int, n_tokens: int) -> None:
        pass

    def retain(self, rows: Sequence[int]) -> None:
        pass

    def text(self, row: int) -> str:
        return ["only"][row]


class _Backend(Generator):
    def open(self, examples: Sequence[Example], settings: GenerationSettings, *, salt: str = "") -> SessionBatch:
        return _Sessions()


def test_a_generators_sessions_are_guarded_as_that_generator() -> None:
    gen = guard(_Backend(), Culprit("generator", "remote-x", "ensemble-remote", member="m1"))
    session = gen.open(examples("p", "q"), GenerationSettings())
    with pytest.raises(ComponentError) as info:
        session.generate(4)
    assert str(info.value) == (
        "generator 'remote-x' (member 'm1', plugin ensemble-remote) returned a wrong result from generate(): "
        "expected a list of 2 Segments (one per row of the batch), got a list of 1"
    )
    with pytest.raises(ComponentError, match=r"^generator 'remote-x' \(member 'm1', plugin ensemble-remote\) raised "
                       r"IndexError: list index out of range$"):
        session.text(1)
    with pytest.raises(ComponentError, match=r"expected a SessionBatch of 3 rows \(one per example\), got a _Sessions "
                       r"of 2 rows"):
        gen.open(examples("p", "q", "r"), GenerationSettings())


def test_a_nested_components_failure_keeps_its_own_name() -> None:
    """The aggregator calls the failing scorer: the scorer is blamed, not the aggregator."""
    p = pipeline()
    with pytest.raises(ComponentError) as info:
        p.aggregator.run(examples("a||b"), _ctx(p))
    assert info.value.kind == "scorer"


def _ctx(p: Pipeline):  # noqa: ANN202
    from ensemble_cli.core.components import EnsembleContext

    members: list[Member] = p.members
    return EnsembleContext(members=members, scorer=p.scorer, settings=GenerationSettings())
