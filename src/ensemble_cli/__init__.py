"""ensemble-cli: LLM ensemble inference as a batch CLI and an OpenAI-compatible server."""

__version__ = "0.1.0"
