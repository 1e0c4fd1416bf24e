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


class ComponentError(EnsembleError):
    """A component (built-in or a plugin's) raised, or broke its contract, while it was used.

    The message names the culprit the way a user can act on it: its kind, its registered name, the
    member (for generators) and the plugin that registered it, then what went wrong —
    ``scorer 'shortest' (plugin ensemble-shortest) raised ZeroDivisionError: division by zero``.
    The exception the component raised is the ``__cause__`` (its traceback is shown in verbose mode).
    """

    def __init__(self, kind: str, name: str, plugin: str | None, problem: str, *, member: str | None = None) -> None:
        self.kind = kind
        self.name = name
        self.plugin = plugin
        self.member = member
        self.problem = problem
        super().__init__(f"{self.culprit} {problem}")

    @property
    def culprit(self) -> str:
        """``generator 'hf' (member 'smol', plugin ensemble_cli.builtins)``."""
        where = [f"member {self.member!r}"] if self.member else []
        where += [f"plugin {self.plugin}"] if self.plugin else []
        return f"{self.kind} {self.name!r}" + (f" ({', '.join(where)})" if where else "")


def format_traceback(exc: BaseException) -> str:
    """The traceback worth showing for ``exc``: for a ``ComponentError``, that of the exception the
    component raised (where the plugin's bug is), else ``exc``'s own."""
    import traceback

    shown = exc.__cause__ if isinstance(exc, ComponentError) and exc.__cause__ is not None else exc
    return "".join(traceback.format_exception(shown)).rstrip("\n")


def describe(exc: BaseException) -> str:
    """An exception as one line for a record or a report: our own errors' messages stand on their
    own, foreign ones are prefixed with their type (``KeyError: 'x'``)."""
    text = str(exc)
    if isinstance(exc, EnsembleError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
