"""Built-in aggregators (ensemble methods)."""
