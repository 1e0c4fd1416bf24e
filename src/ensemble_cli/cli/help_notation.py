"""Conventional ``--help`` notation on Typer versions that print ``<bool>`` and ``{recipe}``.

Recent Typer releases show a type placeholder after every option, flags included (``--json
<bool>``, ``--help <bool>``), which reads as if the flag took a value, and write a required
argument in the usage line as ``{recipe}``, which reads as shell brace expansion. Typer has no
setting for either, and the ``--help`` option is built by Typer itself (no ``metavar`` of ours can
reach it), so this module adjusts the two methods once, for every command, plugin commands
included:

- a flag (or a counter) shows no type (``--json  Print JSON``), as click and argparse print it;
- a usage line names arguments the click/POSIX way: ``RECIPE``, ``[ALIASES]...``, ``FILES...``.

Each patch applies only where the method exists: on Typer versions without them (whose output
was already conventional) nothing changes. ``tests/cli/test_help.py`` checks every command's help.
"""

from __future__ import annotations

from typing import Any

_PATCHED = "_ensemble_help_notation"


def install() -> None:
    """Patch Typer's parameter classes (idempotent)."""
    try:
        from typer.core import TyperArgument, TyperOption
    except ImportError:  # pragma: no cover - a Typer without these classes formats help its own way
        return
    if getattr(TyperOption, _PATCHED, False):
        return
    if hasattr(TyperOption, "display_type_rich"):
        shown_type = TyperOption.display_type_rich

        def display_type_rich(self: Any, ctx: Any) -> str | None:
            if self.metavar is None and (getattr(self, "is_flag", False) or getattr(self, "count", False)):
                return None  # takes no value: nothing to show, as in the plain (non-rich) help
            return shown_type(self, ctx)

        TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
    if hasattr(TyperArgument, "_usage_display_name"):

        def usage_display_name(self: Any) -> str:
            name = self.metavar if self.metavar is not None else (self.name or "").upper()
            if not self.required:
                name = f"[{name}]"
            return f"{name}..." if self.nargs != 1 else name

        TyperArgument._usage_display_name = usage_display_name  # type: ignore[method-assign]
    setattr(TyperOption, _PATCHED, True)
