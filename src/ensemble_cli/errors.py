"""Typed errors for the whole package.

Library code raises these; only the CLI and HTTP boundaries turn them into messages and exit codes,
so every layer below stays usable as a library. ``exit_code`` is the code ``ensemble`` exits with.
"""

from __future__ import annotations

from dataclasses import dataclass


class EnsembleError(Exception):
    """Base class of every error ensemble-cli raises on purpose."""

    exit_code: int = 1


class UsageError(EnsembleError):
    """The user asked for something malformed (bad flag, bad override, unreadable file)."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One problem found in a recipe, located by its dotted YAML path (``aggregator.params.x``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class RecipeError(EnsembleError):
    """A recipe is invalid. Carries *all* problems found, each with its YAML path."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | str, source: str | None = None) -> None:
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        self.problems = list(problems)
        self.source = source
        head = f"invalid recipe {source}" if source else "invalid recipe"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


class RegistryError(EnsembleError):
    """A component name is unknown, or a plugin registered something invalid."""

    exit_code = 2


class PluginError(EnsembleError):
    """A plugin failed to import or to register its components."""


class ModelLoadError(EnsembleError):
    """A model or tokenizer could not be located, installed, converted or loaded."""


class InputError(EnsembleError):
    """An input dataset cannot be read at all (missing file, empty file, wrong top-level shape)."""

    exit_code = 2


class ExampleError(EnsembleError):
    """One input row is unusable (bad JSON, no prompt field). The run records it and goes on."""


class GenerationError(EnsembleError):
    """Generation failed for a request (e.g. the context no longer fits the model)."""


class UnsupportedError(EnsembleError):
    """A component cannot do what was asked of it (e.g. a backend without teacher-forced scoring)."""

    exit_code = 2


def describe(exc: BaseException) -> str:
    """An exception as one line for a record or a report: our own errors' messages stand on their
    own, foreign ones are prefixed with their type (``KeyError: 'x'``)."""
    text = str(exc)
    if isinstance(exc, EnsembleError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
