"""What a run looks like in a terminal: loading status, progress, the final report, the resume hint.

Shared by the CLI commands and the Python API (``Ensemble.run(..., progress=True)``, ``bench()``),
so it sits below both: ``cli`` and ``api`` import it, it imports neither ``cli`` nor the commands.
"""
