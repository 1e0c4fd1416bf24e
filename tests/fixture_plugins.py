"""Fixture components for CLI tests: no models, deterministic, optionally slow or failing.

Registered through the real hook path (``load_registry(extra_plugins=[fixture_plugins])``), the
way ``simonw/llm`` tests register plugins inline.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ensemble_cli.core.components import (
    Aggregator,
    ComponentConfig,
    EnsembleContext,
    Generator,
    Member,
    Selector,
)
from ensemble_cli.core.sessions import SessionBatch
from ensemble_cli.core.types import Attribution, Example, GenerationSettings, Result, Usage
from ensemble_cli.hookspecs import Register, hookimpl


class EchoGenerator(Generator):
    """A generator that loads nothing; the echo aggregator never opens sessions on it."""

    class Config(ComponentConfig):
        delay: float = 0.0

    def load(self) -> None:
        time.sleep(self.config.delay)

    def open(
        self, examples: Sequence[Example], settings: GenerationSettings, *, salt: str = ""
    ) -> SessionBatch:
        raise NotImplementedError("echo-gen has no sessions")


class EchoAllSelector(Selector):
    """Every member takes part."""

    def select(self, examples: Sequence[Example], members: Sequence[Member]) -> list[list[str]]:
        return [[m.name for m in members] for _ in examples]


class EchoAggregator(Aggregator):
    """Output = the prompt upper-cased; raises for prompts containing ``fail_on``."""

    class Config(ComponentConfig):
        delay: float = 0.0
        fail_on: str | None = None

    def run(self, examples: Sequence[Example], ctx: EnsembleContext) -> list[Result]:
        results = []
        member = ctx.members[0].name if ctx.members else "echo"
        for example in examples:
            time.sleep(self.config.delay)
            if self.config.fail_on is not None and self.config.fail_on in example.prompt:
                raise ValueError(f"refusing {example.prompt!r}")
            text = example.prompt.upper()
            tokens = len(text.split())
            results.append(
                Result(
                    id=example.id,
                    output=text,
                    finish_reason="stop",
                    attribution=[Attribution(member, 0, text, tokens, 1.0)],
                    usage=Usage(prompt_tokens=tokens, completion_tokens=tokens),
                    rounds=1,
                )
            )
        return results


@hookimpl
def register_generators(register: Register) -> None:
    register("echo-gen", EchoGenerator)


@hookimpl
def register_selectors(register: Register) -> None:
    register("echo-all", EchoAllSelector)


@hookimpl
def register_aggregators(register: Register) -> None:
    register("echo", EchoAggregator)
