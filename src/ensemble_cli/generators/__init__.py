"""Built-in generators (model backends)."""
