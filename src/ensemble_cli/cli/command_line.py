"""The command that reproduces a result, rebuilt from what click parsed (not from ``sys.argv``).

Written into ``bench.json`` so a results table can print, next to each row, the line that produced
it. Rebuilt from the parsed parameters rather than copied from ``sys.argv`` so it is the same
however the command was started (console script, ``python -m``, a test runner): arguments in
order, then every option the user gave, in its long spelling, and nothing left at its default.
Options that only say where or how to write (``--overwrite``, ``--resume``, ``--format``) or that
copy earlier runs (``--baselines``) are left out by the caller: the command must reproduce the
numbers on a fresh checkout, where an earlier folder may not exist.
"""

from __future__ import annotations

import shlex
from collections.abc import Collection
from enum import Enum
from typing import Any

import typer

_GIVEN = ("COMMANDLINE", "ENVIRONMENT")  #: ``ParameterSource`` names (typer vendors its click)


def command_line(prefix: str, ctx: typer.Context, leave_out: Collection[str] = ()) -> str:
    """``prefix`` and the arguments and options given to ``ctx``'s command, shell-quoted."""
    words = prefix.split()
    options: list[str] = []
    for param in ctx.command.params:
        name = param.name or ""
        if name in leave_out or not _given(ctx, name):
            continue
        value = ctx.params.get(name)
        if param.param_type_name == "argument":
            words += [_text(v) for v in _values(value)]
            continue
        flag = max((o for o in param.opts if o.startswith("--")), key=len, default=param.opts[0])
        if getattr(param, "is_flag", False):
            if value:
                options.append(flag)
            elif param.secondary_opts:
                options.append(param.secondary_opts[0])
            continue
        for v in _values(value):
            options += [flag, _text(v)]
    return " ".join(shlex.quote(w) for w in [*words, *options])


def given_arguments(ctx: typer.Context) -> dict[str, Any]:
    """Every parameter the user gave, by name, JSON-ready (the record beside the command)."""
    out = {}
    for name, value in ctx.params.items():
        if _given(ctx, name):
            out[name] = [_text(v) for v in value] if isinstance(value, list | tuple) else _json(value)
    return out


def _given(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in _GIVEN


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _text(value: Any) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def _json(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | float | str) else _text(value)
