"""Base classes of the four plugin kinds.

Every component, built-in or third-party, subclasses one of these, declares a pydantic ``Config``
with ``extra="forbid"`` (so a recipe typo fails validation before any model loads) and is built as
``cls(config)``. Components hold configuration, never per-request state: everything that belongs
to one request lives in locals or in the sessions the aggregator opens.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

from .types import Example, GenerationSettings, Result, Segment

if TYPE_CHECKING:
    from .pool import ModelPool
    from .sessions import SessionBatch


class ComponentConfig(BaseModel):
    """Base of every component's ``Config``: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Component:
    """Common shape: a kind, a one-line description, and a validated config.

    ``pool`` is set by the pipeline before use; components that load models get them from it.
    """

    pool: ModelPool | None = None

    kind: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Config: ClassVar[type[ComponentConfig]] = ComponentConfig

    def __init__(self, config: ComponentConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()


class Generator(Component, ABC):
    """A model backend. ``open`` starts one incremental session per example, batched."""

    kind = "generator"
    #: whether its sessions give next-token distributions for token-level aggregators; backends
    #: that cannot (remote servers, engines that own their decode loop) set False, and the recipe
    #: validator rejects them under a token-level aggregator
    token_level: ClassVar[bool] = True

    @abstractmethod
    def open(
        self, examples: Sequence[Example], settings: GenerationSettings, *, salt: str = ""
    ) -> SessionBatch:
        """Apply the chat template and return a batch of sessions (prompts prefill lazily).

        ``salt`` (the member's name) keeps the sampling streams of two members apart even when they
        are the same model; it never depends on the batch's composition.
        """

    def load(self) -> None:  # noqa: B027 - optional hook
        """Load weights now (otherwise on first ``open``); lets the CLI show loading separately."""

    def offline_aliases(self) -> list[str]:
        """Built-in model aliases this generator will load, so the pipeline can convert them together."""
        return []


@dataclass
class Member:
    """A named generator taking part in an ensemble (the recipe's ``models[i]``)."""

    name: str
    generator: Generator


@dataclass
class Candidate:
    """A segment proposed by one member for one example, to be scored."""

    example: Example
    prefix: str  # the output so far (before this candidate)
    member: str
    segment: Segment


class Scorer(Component, ABC):
    """Scores candidates; higher is better. Batched over all candidates of a round."""

    kind = "scorer"

    @abstractmethod
    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        """One score per candidate, in order."""


class Selector(Component, ABC):
    """Chooses which members take part in each example."""

    kind = "selector"

    @abstractmethod
    def select(self, examples: Sequence[Example], members: Sequence[Member]) -> list[list[str]]:
        """For each example, the names of the chosen members (in recipe order)."""


@dataclass
class EnsembleContext:
    """Everything an aggregator needs for one batch: members, scorer and sampling settings."""

    members: list[Member]
    scorer: Scorer | None
    settings: GenerationSettings


class Aggregator(Component, ABC):
    """An ensemble method: makes the members cooperate on a batch of examples."""

    kind = "aggregator"
    #: whether the method needs a scorer; the recipe validator reports a missing one.
    needs_scorer: ClassVar[bool] = False
    #: whether it steps members token by token (needs generators with ``token_level``)
    token_level: ClassVar[bool] = False

    @abstractmethod
    def run(self, examples: Sequence[Example], ctx: EnsembleContext) -> list[Result]:
        """One result per example, in order. ``selected_models`` is filled by the pipeline."""


KINDS: dict[str, type[Component]] = {
    "generator": Generator,
    "scorer": Scorer,
    "selector": Selector,
    "aggregator": Aggregator,
}
