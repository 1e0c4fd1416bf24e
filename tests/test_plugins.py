from __future__ import annotations

import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import dummy_plugins
from dummy_plugins import DummyScorer, LoopLike, RewardLike, dummy_registry, make_plugin
from ensemble_cli import plugins
from ensemble_cli.hookspecs import hookimpl
from ensemble_cli.plugins import (
    BUILTINS,
    autoload_enabled,
    blocked_plugins,
    get_registry,
    load_plugins,
    load_registry,
    register_plugin_commands,
    reset_plugin_cache,
    use_registry,
)


def ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group="ensemble_cli")


@pytest.fixture
def entry_points(monkeypatch: pytest.MonkeyPatch) -> list[EntryPoint]:
    """The entry points ``load_plugins`` sees: none unless a test appends some."""
    found: list[EntryPoint] = []
    monkeypatch.setattr(plugins, "_entry_points", lambda: list(found))
    monkeypatch.delenv(plugins.AUTOLOAD_ENV, raising=False)
    monkeypatch.delenv(plugins.BLOCK_ENV, raising=False)
    return found


@pytest.fixture
def fake_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace ``ensemble_cli.builtins`` by a module registering one aggregator."""
    module = make_plugin(BUILTINS, register_aggregators=lambda register: register("reward", RewardLike))
    monkeypatch.setitem(sys.modules, BUILTINS, module)


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A sys.path folder where tests write importable plugin modules."""
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def write_module(folder: Path, name: str, body: str) -> None:
    (folder / f"{name}.py").write_text(textwrap.dedent(body))
    sys.modules.pop(name, None)


GOOD_MODULE = """
    from ensemble_cli.hookspecs import hookimpl
    from dummy_plugins import LoopLike

    @hookimpl
    def register_aggregators(register):
        register("third-party-loop", LoopLike)
"""


def test_extra_plugins_register_inline() -> None:
    registry = dummy_registry()
    assert registry.names("aggregator") == ["loop", "reward"]
    assert registry.get("scorer", "dummy-scorer") is DummyScorer
    info = registry.plugin("dummy_plugins")
    assert info.status == "ok"
    assert info.components == {
        "generator": ["dummy"],
        "scorer": ["dummy-scorer"],
        "selector": ["all"],
        "aggregator": ["loop", "reward"],
    }
    assert registry.lookup("aggregator", "loop").plugin == "dummy_plugins"


def test_plugin_objects_with_methods_work_too() -> None:
    class ClassPlugin:
        @hookimpl
        def register_aggregators(self, register):
            register("from-object", LoopLike)

    registry = load_registry(autoload=False, builtins=False, extra_plugins=[ClassPlugin()])
    assert registry.lookup("aggregator", "from-object").plugin == "ClassPlugin"


def test_entry_point_plugin_loaded(entry_points: list, plugin_dir: Path, fake_builtins: None) -> None:
    write_module(plugin_dir, "good_plugin_mod", GOOD_MODULE)
    entry_points += [ep("builtins", BUILTINS), ep("good", "good_plugin_mod")]
    registry = load_registry()
    assert [p.name for p in registry.plugins] == [BUILTINS, "good"]
    assert registry.lookup("aggregator", "reward").plugin == BUILTINS
    assert registry.lookup("aggregator", "third-party-loop").plugin == "good"


def test_broken_entry_point_is_reported_and_skipped(
    entry_points: list, plugin_dir: Path, fake_builtins: None
) -> None:
    write_module(plugin_dir, "good_plugin_mod2", GOOD_MODULE)
    write_module(plugin_dir, "raising_plugin_mod", "raise RuntimeError('bad import-time code')\n")
    entry_points += [
        ep("builtins", BUILTINS),
        ep("missing", "no_such_module_for_ensemble_tests"),
        ep("raising", "raising_plugin_mod"),
        ep("good", "good_plugin_mod2"),
    ]
    registry = load_registry()
    missing, raising = registry.plugin("missing"), registry.plugin("raising")
    assert missing.status == "error"
    assert "ModuleNotFoundError" in missing.error and "no_such_module_for_ensemble_tests" in missing.error
    assert raising.error == "failed to import raising_plugin_mod: RuntimeError: bad import-time code"
    assert registry.names("aggregator") == ["reward", "third-party-loop"]


def test_hook_that_raises_is_reported_and_rolled_back() -> None:
    def boom(register):
        raise RuntimeError("boom")

    broken = make_plugin(
        "broken-plugin",
        register_generators=lambda register: register("half-done", dummy_plugins.DummyGenerator),
        register_aggregators=boom,
    )
    registry = dummy_registry(broken)
    info = registry.plugin("broken-plugin")
    assert info.error == "register_aggregators failed: RuntimeError: boom"
    assert info.components == {}
    assert "half-done" not in registry.names("generator")  # rolled back
    assert registry.names("aggregator") == ["loop", "reward"]  # the others still registered


def test_duplicate_name_names_both_plugins(entry_points: list, fake_builtins: None) -> None:
    foo = make_plugin("foo-plugin", register_aggregators=lambda register: register("reward", LoopLike))
    entry_points.append(ep("builtins", BUILTINS))
    registry = load_registry(extra_plugins=[foo])
    assert registry.plugin("foo-plugin").error == (
        "register_aggregators failed: "
        "aggregator 'reward' registered by both 'ensemble_cli.builtins' and 'foo-plugin'"
    )
    assert registry.get("aggregator", "reward") is RewardLike


def test_invalid_registration_skips_the_plugin() -> None:
    bad = make_plugin("bad-name", register_aggregators=lambda register: register("Best_Of_N", LoopLike))
    registry = dummy_registry(bad)
    assert "not kebab-case" in registry.plugin("bad-name").error
    assert registry.plugin("dummy_plugins").status == "ok"


def test_typo_in_hook_name_is_an_error() -> None:
    typo = make_plugin("typo-plugin", register_agregators=lambda register: None)
    info = dummy_registry(typo).plugin("typo-plugin")
    assert info.error == "unknown hook register_agregators (did you mean register_aggregators?)"


def test_bad_hook_signature_is_an_error() -> None:
    wrong = make_plugin("wrong-args", register_aggregators=lambda reg: None)
    assert dummy_registry(wrong).plugin("wrong-args").error.startswith("cannot register:")


def test_builtins_load_with_autoload_off(entry_points: list, plugin_dir: Path, fake_builtins: None) -> None:
    write_module(plugin_dir, "good_plugin_mod3", GOOD_MODULE)
    entry_points += [ep("builtins", BUILTINS), ep("good", "good_plugin_mod3")]
    registry = load_registry(autoload=False)
    assert registry.plugin(BUILTINS).status == "ok"
    assert registry.names("aggregator") == ["reward"]
    assert registry.plugin("good").disabled == "autoload disabled (ENSEMBLE_DISABLE_PLUGIN_AUTOLOAD)"
    assert "good_plugin_mod3" not in sys.modules  # not even imported


def test_autoload_env_switch(
    entry_points: list, plugin_dir: Path, fake_builtins: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module(plugin_dir, "good_plugin_mod4", GOOD_MODULE)
    entry_points += [ep("builtins", BUILTINS), ep("good", "good_plugin_mod4")]
    monkeypatch.setenv("ENSEMBLE_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert load_registry().plugin("good").status == "disabled"
    monkeypatch.setenv("ENSEMBLE_DISABLE_PLUGIN_AUTOLOAD", "0")
    assert load_registry().plugin("good").status == "ok"
    monkeypatch.setenv("ENSEMBLE_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert load_registry(autoload=True).plugin("good").status == "ok"  # explicit argument wins


@pytest.mark.parametrize(
    ("value", "enabled"),
    [(None, True), ("", True), ("0", True), ("false", True), ("FALSE", True), ("1", False), ("yes", False)],
)
def test_autoload_enabled_parsing(value: str | None, enabled: bool) -> None:
    env = {} if value is None else {"ENSEMBLE_DISABLE_PLUGIN_AUTOLOAD": value}
    assert autoload_enabled(env) is enabled


def test_block_list(
    entry_points: list, plugin_dir: Path, fake_builtins: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module(plugin_dir, "good_plugin_mod5", GOOD_MODULE)
    write_module(plugin_dir, "other_plugin_mod5", GOOD_MODULE.replace("third-party-loop", "other-loop"))
    entry_points += [
        ep("builtins", BUILTINS),
        ep("good-plugin", "good_plugin_mod5"),
        ep("other", "other_plugin_mod5"),
    ]
    monkeypatch.setenv("ENSEMBLE_PLUGINS_BLOCK", " Good_Plugin , nothing-else")
    registry = load_registry()
    assert registry.plugin("good-plugin").disabled == "blocked (ENSEMBLE_PLUGINS_BLOCK)"
    assert registry.names("aggregator") == ["other-loop", "reward"]
    assert blocked_plugins({"ENSEMBLE_PLUGINS_BLOCK": "a,B_c,"}) == {"a", "b-c"}


def test_builtins_imported_directly_without_metadata(entry_points: list, fake_builtins: None) -> None:
    registry = load_registry()  # no entry point at all: the built-ins are still there
    assert registry.plugin(BUILTINS).components == {"aggregator": ["reward"]}


def test_broken_builtins_do_not_crash(entry_points: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, BUILTINS, None)  # makes the import fail
    registry = load_registry(extra_plugins=[dummy_plugins])
    assert registry.plugin(BUILTINS).error.startswith(f"failed to import {BUILTINS}: ")
    assert registry.names("aggregator") == ["loop", "reward"]


def test_same_object_twice_gets_unique_names() -> None:
    other = make_plugin("dummy_plugins", register_scorers=lambda register: None)
    registry = dummy_registry(other)
    assert [p.name for p in registry.plugins] == ["dummy_plugins", "dummy_plugins (2)"]
    assert registry.plugin("dummy_plugins (2)").status == "ok"


def test_process_cache_reset_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    override = dummy_registry()

    def fake_load(**kwargs):
        calls.append(kwargs)
        return load_plugins(autoload=False, builtins=False, extra_plugins=[dummy_plugins])

    monkeypatch.setattr(plugins, "load_plugins", fake_load)
    reset_plugin_cache()
    try:
        first = get_registry()
        assert get_registry() is first
        assert len(calls) == 1
        with use_registry(override):
            assert get_registry() is override
        assert get_registry() is first
        reset_plugin_cache()
        assert get_registry() is not first
        assert len(calls) == 2
    finally:
        reset_plugin_cache()


def _hello() -> None:
    typer.echo("hello from a plugin")


def test_register_plugin_commands() -> None:
    def add_hello(app):
        app.command("hello")(_hello)

    def broken(app):
        app.command("half")(_hello)
        raise RuntimeError("no commands today")

    def clash(app):
        app.command("existing")(_hello)

    loaded = load_plugins(
        autoload=False,
        builtins=False,
        extra_plugins=[
            make_plugin("hello-plugin", register_commands=add_hello),
            make_plugin("broken-commands", register_commands=broken),
            make_plugin("clashing", register_commands=clash),
        ],
    )
    app = typer.Typer()

    @app.command("existing")
    def existing() -> None:
        typer.echo("the original")

    register_plugin_commands(app, loaded)
    runner = CliRunner()
    assert runner.invoke(app, ["hello"]).stdout == "hello from a plugin\n"
    assert runner.invoke(app, ["existing"]).stdout == "the original\n"
    assert runner.invoke(app, ["half"]).exit_code != 0  # rolled back
    assert loaded.registry.plugin("broken-commands").error == (
        "register_commands failed: RuntimeError: no commands today"
    )


def test_register_plugin_commands_warns_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    def broken(app):
        raise RuntimeError("nope")

    plugin = make_plugin("broken-commands", register_commands=broken)
    loaded = load_plugins(autoload=False, builtins=False, extra_plugins=[plugin])
    register_plugin_commands(typer.Typer(), loaded)
    expected = "warning: plugin 'broken-commands': register_commands failed: RuntimeError: nope"
    assert expected in capsys.readouterr().err
