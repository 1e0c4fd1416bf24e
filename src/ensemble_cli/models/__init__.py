"""Where model weights come from: built-in offline aliases, GGUF conversion, the on-disk cache."""

from .aliases import ALIASES, Alias, get_alias, resolve_model
from .cache import cache_dir

__all__ = ["ALIASES", "Alias", "cache_dir", "get_alias", "resolve_model"]
