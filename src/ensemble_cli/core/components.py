"""Base classes of the four plugin kinds.

Every component, built-in or third-party, subclasses one of these, declares a pydantic ``Config``
with ``extra="forbid"`` (so a recipe typo fails validation before any model loads) and is built as
``cls(config)``. Components hold configuration, never per-request state: everything that belongs
to one request lives in locals or in the sessions the aggregator opens.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

from ..errors import Problem, UnsupportedError
from .events import Footprint, ProgressHook, RowProgress
from .types import Example, GenerationSettings, Result, ScoreItem, Segment, TokenScores

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

    @classmethod
    def recipe_problems(cls, config: ComponentConfig, models: Sequence[str]) -> list[Problem]:
        """Problems of a valid ``config`` that only show against the rest of the recipe (``models``:
        the recipe's model names, in order), e.g. more length bands than models. Paths are relative
        to this component's ``params``; recipe validation reports them before any model loads."""
        return []


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

    def configure(self, generation: GenerationSettings) -> None:  # noqa: B027 - optional hook
        """The recipe's generation settings, told once by the Pipeline before anything loads.

        For a backend that must fix something when its engine starts (vLLM's batch-invariant mode
        is a process setting read at engine start); per-call settings still come with ``open``.
        """

    def offline_aliases(self) -> list[str]:
        """Built-in model aliases this generator will load, so the pipeline can convert them together."""
        return []

    def footprint(self) -> Footprint | None:
        """Parameters, bytes and dtype of the loaded weights, for the CLI's status line (after
        ``load``); ``None`` for backends without local weights."""
        return None

    # Teacher-forced scoring: what selectors (zscore, judgment), scorers under a named member
    # (logprob, self-certainty) and the server's loglikelihood requests need. Backends that can't
    # score given tokens keep these defaults, and the caller reports a clear "unsupported" error.

    def encode_prompt(self, example: Example) -> list[int]:
        """The chat-templated prompt ids exactly as ``open`` would prefill them."""
        raise self._unsupported("encode prompts")

    def encode_text(self, text: str) -> list[int]:
        """Plain text to ids, no special tokens added."""
        raise self._unsupported("encode text")

    def decode_ids(self, ids: Sequence[int]) -> str:
        raise self._unsupported("decode ids")

    def continuation_item(self, example: Example, prefix: str, text: str) -> ScoreItem:
        """A ScoreItem scoring ``text`` as the continuation of ``prefix`` in the assistant turn.

        ``prefix + text`` is tokenized as one string (as the model would have produced it) and split
        where it stops agreeing with the tokenization of ``prefix`` alone, so a token spanning the
        boundary is scored as part of ``text``.
        """
        whole = self.encode_text(prefix + text)
        alone = self.encode_text(prefix) if prefix else []
        k = 0
        while k < min(len(whole), len(alone)) and whole[k] == alone[k]:
            k += 1
        return ScoreItem(self.encode_prompt(example) + whole[:k], whole[k:])

    def score_tokens(self, items: Sequence[ScoreItem], *, top_k: int = 0) -> list[TokenScores]:
        """Log-probs of each item's target tokens (and query ids), batched."""
        raise self._unsupported("score tokens")

    def _unsupported(self, what: str) -> UnsupportedError:
        return UnsupportedError(f"generator '{type(self).__name__}' cannot {what} (no teacher-forced scoring)")


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
    """Scores candidates; higher is better. Batched over all candidates of a round.

    ``members`` is set by the pipeline (``bind``) to the recipe's members, so a scorer can score
    under a named member's model (teacher-forced log-probs, a judge prompt). Like ``pool`` it is
    wiring, not per-request state; wrapper scorers override ``bind`` to pass it to what they wrap.
    """

    kind = "scorer"
    members: Sequence[Member] = ()

    def bind(self, members: Sequence[Member]) -> None:
        """Receive the recipe's members (all of them, selected or not)."""
        self.members = list(members)

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
    """Everything an aggregator needs for one batch: members, scorer and sampling settings.

    ``on_text``, ``cancelled`` and ``on_progress`` are per-call hooks (the server streams and
    cancels through the first two, ``ensemble run`` moves its progress display with the third);
    aggregators use them via ``emit``, ``is_cancelled`` and ``progress``, with the example's index
    in this call. An aggregator calls ``emit`` as soon as a piece of an example's output is final,
    ``progress`` after every round, chunk or token step, and stops an example whose
    ``is_cancelled`` turns true (``finish_reason "stop"``, ``stop_cause "cancelled"``, partial
    output kept).
    """

    members: list[Member]
    scorer: Scorer | None
    settings: GenerationSettings
    on_text: Callable[[int, str], None] | None = None
    cancelled: Callable[[int], bool] | None = None
    on_progress: ProgressHook | None = None
    #: like ``on_text``, with the name of the member that wrote the piece (``None``: not known)
    on_piece: Callable[[int, str, str | None], None] | None = None

    def emit(self, index: int, text: str, model: str | None = None) -> None:
        """Example ``index`` has ``text`` more final output, written by member ``model``."""
        if not text:
            return
        if self.on_text is not None:
            self.on_text(index, text)
        if self.on_piece is not None:
            self.on_piece(index, text, model)

    def progress(self, index: int, tokens: int, rounds: int) -> None:
        """Example ``index`` now has ``tokens`` output tokens after ``rounds`` rounds/chunks/steps."""
        if self.on_progress is not None:
            self.on_progress(index, RowProgress(tokens, rounds))

    def is_cancelled(self, index: int) -> bool:
        return self.cancelled is not None and self.cancelled(index)


class Aggregator(Component, ABC):
    """An ensemble method: makes the members cooperate on a batch of examples."""

    kind = "aggregator"
    #: whether the method needs a scorer; the recipe validator reports a missing one.
    needs_scorer: ClassVar[bool] = False
    #: whether it steps members token by token (needs generators with ``token_level``)
    token_level: ClassVar[bool] = False

    @classmethod
    def scorer_needed(cls, config: ComponentConfig) -> bool:
        """Whether this configuration needs the recipe's scorer (a wrapper's inner method may)."""
        return cls.needs_scorer

    @abstractmethod
    def run(self, examples: Sequence[Example], ctx: EnsembleContext) -> list[Result]:
        """One result per example, in order. ``selected_models`` is filled by the pipeline with the
        selector's choice, unless the aggregator narrowed it to the members that actually ran (a
        cascade's rows that never escalated)."""


KINDS: dict[str, type[Component]] = {
    "generator": Generator,
    "scorer": Scorer,
    "selector": Selector,
    "aggregator": Aggregator,
}
