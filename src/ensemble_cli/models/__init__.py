"""Where model weights come from: built-in offline aliases, GGUF conversion, the on-disk cache."""

from .aliases import ALIASES, Alias, get_alias
from .cache import cache_dir
from .resolve import resolve_model

__all__ = ["ALIASES", "Alias", "cache_dir", "get_alias", "resolve_model"]
