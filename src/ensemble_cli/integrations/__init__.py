"""Adapters that plug an ``Ensemble`` into other tools (each imports its tool only when used).

``lm_eval``: an lm-evaluation-harness ``LM`` (``EnsembleLM``, registered as ``ensemble``).
"""
