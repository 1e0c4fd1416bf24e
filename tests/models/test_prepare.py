"""``models.prepare.prepare_aliases``: the aliases a run needs convert at the same time, each in a
spawned worker that reports its steps; a failure names the alias and stops the others."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ensemble_cli.core.events import Converted, Converting
from ensemble_cli.errors import ModelLoadError
from ensemble_cli.models import aliases
from ensemble_cli.models.prepare import needs_conversion, prepare_aliases
from fake_aliases import FakeAlias


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    def install(*items: FakeAlias) -> None:
        for item in items:
            monkeypatch.setitem(aliases.ALIASES, item.name, item)

    return install


def test_two_conversions_run_side_by_side_and_report_their_steps(tmp_path: Path, fakes) -> None:  # noqa: ANN001
    fakes(FakeAlias.make("one", tmp_path, peer="two"), FakeAlias.make("two", tmp_path, peer="one"))
    assert needs_conversion(["one", "two", "one", "not-an-alias"]) == ["one", "two"]
    events: list[object] = []
    prepare_aliases(["one", "two"], on_event=events.append)  # each waits for the other: only concurrent passes
    for name in ("one", "two"):
        mine = [e for e in events if getattr(e, "alias", None) == name]
        assert mine[0] == Converting(name, 1000)
        assert mine[1] == Converting(name, 1000, "waiting for its peer")
        assert isinstance(mine[-1], Converted) and mine[-1].bytes == 2000 and mine[-1].seconds > 0
    assert needs_conversion(["one", "two"]) == []
    events.clear()
    prepare_aliases(["one", "two"], on_event=events.append)  # already in the cache: no worker, no event
    assert events == []


def test_a_failing_conversion_names_its_alias_and_stops_the_others(tmp_path: Path, fakes) -> None:  # noqa: ANN001
    fakes(FakeAlias.make("bad", tmp_path, peer="slow", fail=True), FakeAlias.make("slow", tmp_path, peer="bad"))
    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match=r"converting model alias 'bad' failed: ValueError: bad bytes"):
        prepare_aliases(["bad", "slow"])
    assert time.perf_counter() - start < 25  # ``slow`` (30 s) was stopped, not waited for
    assert not (tmp_path / "slow" / "done").exists()
