"""A fake Ray for the driver's scheduling tests: calls run eagerly when submitted, ``wait`` hands
back the oldest reference, and actors die (or refuse probes) as a test scripts them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from ensemble_cli.core.types import Example, Result
from ensemble_cli.io.records import Timing


class ActorUnavailableError(Exception):
    pass


class ActorDiedError(Exception):
    pass


class FakeRef:
    def __init__(self, call: Callable[[], Any]) -> None:
        try:
            self.value, self.exc = call(), None
        except Exception as exc:
            self.value, self.exc = None, exc


class FakeRay:
    """``wait`` hands back the oldest reference (calls run eagerly when submitted)."""

    exceptions = SimpleNamespace(ActorUnavailableError=ActorUnavailableError, ActorDiedError=ActorDiedError)

    def wait(self, refs: list[FakeRef], num_returns: int = 1, timeout: float | None = None) -> tuple[list, list]:
        return refs[:1], refs[1:]

    def get(self, ref: FakeRef) -> Any:
        if ref.exc is not None:
            raise ref.exc
        return ref.value


class Method:
    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def remote(self, *args: Any) -> FakeRef:
        return FakeRef(lambda: self.fn(*args))


class FakeActor:
    """Runs batches unless ``dies(batch)`` says the process is killed under it; ``probes`` scripts
    what its ``ready`` calls raise (then it answers)."""

    def __init__(self, name: str, dies: Callable[[list[Example]], bool] = lambda b: False,
                 probes: list[Exception] | None = None) -> None:
        self.name, self.dies, self.probes = name, dies, list(probes or [])
        self.batches: list[list[str]] = []
        self.systems: list[int] = []
        self.run = Method(self._run)
        self.ready = Method(self._ready)

    def _run(self, batch: list[Example], system: int = 0) -> list[tuple]:
        self.batches.append([e.id for e in batch])
        self.systems.append(system)
        if self.dies(batch):
            raise ActorUnavailableError(f"{self.name}: socket closed")
        timing = Timing(datetime.now(UTC), 0.25, len(batch), node_id=self.name)
        return [("results", batch, [Result(e.id, output=f"out {system} {e.id}") for e in batch], timing)]

    def _ready(self) -> tuple[str, float]:
        if self.probes:
            raise self.probes.pop(0)
        return self.name, 0.0
