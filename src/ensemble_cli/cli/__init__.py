"""The ``ensemble`` command line: one Typer sub-app per file, assembled in ``main.py``."""
