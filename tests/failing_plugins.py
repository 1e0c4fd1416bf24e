"""Components that fail at run time, the ways third-party plugins do: raising, or returning results of
the wrong shape. Registered through the real hook path as a plugin module with its own name
(``load_registry(extra_plugins=[plugin("ensemble-shortest"), fixture_plugins])``), so tests can
check that errors name the component, its kind and the plugin.

The ``pick`` aggregator proposes the ``|``-separated parts of each prompt as candidates, asks the
scorer, and answers with the best-scored part: with ``shortest`` (``1 / len(part)``), a prompt with
an empty part (``"a||b"``) raises ``ZeroDivisionError`` inside the scorer.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

from ensemble_cli.core.components import (
    Aggregator,
    Candidate,
    ComponentConfig,
    EnsembleContext,
    Member,
    Scorer,
    Selector,
)
from ensemble_cli.core.types import Example, Result, Segment
from ensemble_cli.errors import UsageError
from ensemble_cli.hookspecs import Register, hookimpl


def _candidates(example: Example, member: str) -> list[Candidate]:
    return [Candidate(example, "", member, Segment([], part, [], "stop")) for part in example.prompt.split("|")]


class PickAggregator(Aggregator):
    """Output = the ``|``-separated part of the prompt the scorer likes best."""

    needs_scorer = True

    def run(self, examples: Sequence[Example], ctx: EnsembleContext) -> list[Result]:
        assert ctx.scorer is not None
        member = ctx.members[0].name
        flat = [c for ex in examples for c in _candidates(ex, member)]
        scores = iter(ctx.scorer.score(flat))
        out = []
        for ex in examples:
            parts = [(next(scores), c.segment.text) for c in _candidates(ex, member)]
            out.append(Result(ex.id, max(parts)[1], "stop", rounds=1))
        return out


class ShortChangedAggregator(Aggregator):
    """Forgets the last example of every batch."""

    def run(self, examples: Sequence[Example], ctx: EnsembleContext) -> list[Result]:
        return [Result(ex.id, ex.prompt, "stop") for ex in examples][:-1]


class ShortestScorer(Scorer):
    """Shorter is better: ``1 / len(text)`` (an empty candidate divides by zero)."""

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        return [1 / len(c.segment.text) for c in candidates]


class TooFewScorer(Scorer):
    """Forgets to score the last candidate."""

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        return [1.0 for _ in candidates][:-1]


class WordyScorer(Scorer):
    """Returns words instead of numbers."""

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        return ["high" for _ in candidates]  # type: ignore[misc]


class PoliteScorer(Scorer):
    """Refuses with one of our typed errors (these pass the boundary unchanged)."""

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        raise UsageError("polite scorer: nothing to score today")


class FragileScorer(Scorer):
    """Its constructor raises."""

    class Config(ComponentConfig):
        pass

    def __init__(self, config: ComponentConfig | None = None) -> None:
        super().__init__(config)
        raise KeyError("weights")

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        return [0.0 for _ in candidates]


class GhostSelector(Selector):
    """Chooses a member the recipe does not have."""

    def select(self, examples: Sequence[Example], members: Sequence[Member]) -> list[list[str]]:
        return [["ghost"] for _ in examples]


def plugin(name: str = "ensemble-shortest") -> ModuleType:
    """A plugin module called ``name`` registering every component above."""

    def register_scorers(register: Register) -> None:
        register("shortest", ShortestScorer)
        register("too-few", TooFewScorer)
        register("wordy", WordyScorer)
        register("polite", PoliteScorer)
        register("fragile", FragileScorer)

    def register_selectors(register: Register) -> None:
        register("ghost", GhostSelector)

    def register_aggregators(register: Register) -> None:
        register("pick", PickAggregator)
        register("short-changed", ShortChangedAggregator)

    module = ModuleType(name)
    for hook in (register_scorers, register_selectors, register_aggregators):
        setattr(module, hook.__name__, hookimpl(hook))
    return module
