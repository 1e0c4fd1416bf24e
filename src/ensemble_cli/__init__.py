"""ensemble-cli: LLM ensemble inference (heterogeneous models cooperating on one answer) as a batch CLI."""

__version__ = "0.1.0"
