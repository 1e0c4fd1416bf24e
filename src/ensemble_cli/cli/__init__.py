"""The ``ensemble`` command line: one Typer sub-app per file, assembled in ``main.py``.

Importing the package puts Typer's help screens in the conventional notation (``help_notation``),
so every command, plugin commands included, gets it whichever module is imported first.
"""

from .help_notation import install as _install_help_notation

_install_help_notation()
