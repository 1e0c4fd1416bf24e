from __future__ import annotations

from collections.abc import Sequence

import pytest
from pydantic import BaseModel

from dummy_plugins import DummyScorer, LoopLike, RewardLike
from ensemble_cli.core.components import Aggregator, EnsembleContext
from ensemble_cli.core.types import Example, Result
from ensemble_cli.errors import RegistryError
from ensemble_cli.registry import PluginInfo, Registry


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    reg.add_plugin(PluginInfo("ensemble_cli.builtins", "0.1.0"))
    reg.register("aggregator", "reward", RewardLike, "ensemble_cli.builtins")
    reg.register("aggregator", "loop", LoopLike, "ensemble_cli.builtins")
    reg.register("scorer", "dummy-scorer", DummyScorer, "ensemble_cli.builtins")
    return reg


def test_get_names_and_components(registry: Registry) -> None:
    assert registry.get("aggregator", "reward") is RewardLike
    assert registry.names("aggregator") == ["loop", "reward"]
    assert registry.names("generator") == []
    assert [(c.kind, c.name) for c in registry.components()] == [
        ("scorer", "dummy-scorer"),
        ("aggregator", "loop"),
        ("aggregator", "reward"),
    ]
    found = registry.lookup("aggregator", "loop")
    assert found.plugin == "ensemble_cli.builtins"
    assert found.description == "An aggregator that needs no scorer."
    assert ("aggregator", "loop") in registry
    assert ("scorer", "loop") not in registry


def test_unknown_name_suggests_the_closest(registry: Registry) -> None:
    with pytest.raises(RegistryError) as info:
        registry.get("aggregator", "rewrd")
    assert str(info.value) == "unknown aggregator 'rewrd' — did you mean 'reward'? Available: loop, reward"
    assert info.value.exit_code == 2


def test_unknown_name_without_suggestion(registry: Registry) -> None:
    with pytest.raises(RegistryError, match=r"^unknown aggregator 'xyz'\. Available: loop, reward$"):
        registry.get("aggregator", "xyz")
    with pytest.raises(RegistryError, match=r"^unknown selector 'all'\. No selector is registered\.$"):
        registry.get("selector", "all")


def test_unknown_kind(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="unknown component kind 'widget'"):
        registry.names("widget")
    with pytest.raises(RegistryError, match="unknown component kind"):
        registry.register("widget", "x", LoopLike, "p")


def test_duplicate_names_both_plugins(registry: Registry) -> None:
    with pytest.raises(RegistryError) as info:
        registry.register("aggregator", "reward", LoopLike, "foo-plugin")
    expected = "aggregator 'reward' registered by both 'ensemble_cli.builtins' and 'foo-plugin'"
    assert str(info.value) == expected
    assert registry.get("aggregator", "reward") is RewardLike  # first one kept
    # the same name in another kind is fine
    registry.register("scorer", "reward", DummyScorer, "foo-plugin")


@pytest.mark.parametrize("name", ["Reward", "best_of_n", "-x", "x-", "a--b", "1abc", "", "a b"])
def test_names_must_be_kebab_case(registry: Registry, name: str) -> None:
    with pytest.raises(RegistryError, match="not kebab-case"):
        registry.register("aggregator", name, LoopLike, "p")


@pytest.mark.parametrize("name", ["a", "best-of-n", "topk-union", "gac2", "a1-b2-c3"])
def test_kebab_case_names_accepted(name: str) -> None:
    Registry().register("aggregator", name, LoopLike, "p")


def test_class_must_subclass_the_kind_base(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="DummyScorer does not subclass Aggregator"):
        registry.register("aggregator", "scorer-as-agg", DummyScorer, "p")
    with pytest.raises(RegistryError, match="expected a class"):
        registry.register("aggregator", "instance", LoopLike(), "p")  # type: ignore[arg-type]


def test_config_must_be_a_strict_pydantic_model() -> None:
    class NotPydantic(LoopLike):
        class Config:  # type: ignore[no-redef]
            pass

    class Lenient(LoopLike):
        class Config(BaseModel):  # type: ignore[no-redef]
            x: int = 1

    with pytest.raises(RegistryError, match="Config must be a pydantic BaseModel subclass"):
        Registry().register("aggregator", "a", NotPydantic, "p")
    with pytest.raises(RegistryError, match="must forbid unknown fields"):
        Registry().register("aggregator", "a", Lenient, "p")


def test_abstract_classes_are_rejected() -> None:
    class Half(Aggregator):
        pass

    class Whole(Half):
        def run(self, examples: Sequence[Example], ctx: EnsembleContext) -> list[Result]:
            return []

    with pytest.raises(RegistryError, match=r"Half is abstract \(does not implement run\)"):
        Registry().register("aggregator", "half", Half, "p")
    Registry().register("aggregator", "whole", Whole, "p")


def test_unregister_plugin_and_component_bookkeeping(registry: Registry) -> None:
    registry.add_plugin(PluginInfo("foo-plugin"))
    registry.register("aggregator", "other", LoopLike, "foo-plugin")
    registry.refresh_plugin_components("foo-plugin")
    registry.refresh_plugin_components("ensemble_cli.builtins")
    assert registry.plugin("foo-plugin").components == {"aggregator": ["other"]}
    assert registry.plugin("ensemble_cli.builtins").components == {
        "scorer": ["dummy-scorer"],
        "aggregator": ["loop", "reward"],
    }
    registry.unregister_plugin("foo-plugin")
    registry.refresh_plugin_components("foo-plugin")
    assert registry.names("aggregator") == ["loop", "reward"]
    assert registry.plugin("foo-plugin").components == {}
    assert [p.name for p in registry.plugins] == ["ensemble_cli.builtins", "foo-plugin"]
    with pytest.raises(RegistryError, match="unknown plugin"):
        registry.plugin("nope")


def test_plugin_info_status_and_dict() -> None:
    assert PluginInfo("a").status == "ok"
    assert PluginInfo("a", disabled="blocked").status == "disabled"
    broken = PluginInfo("a", "1.0", error="ImportError: x")
    assert broken.status == "error"
    assert broken.to_dict() == {
        "name": "a",
        "version": "1.0",
        "status": "error",
        "components": {},
        "error": "ImportError: x",
        "disabled": None,
    }
